"""certificate.pdf, the answer to an erasure request, read back with pypdf: in French (the
default) and in English it names the person and the request, lists per source what was erased,
anonymised, masked and kept, with the basis and end date of each kept item, the recipients
told of the erasure and how each notice ended; the partial-refusal paragraph with the CNIL and
court remedies appears only when something was kept; nothing of the Art. 15 letter appears,
and no article but its own (Art. 17, cited once under the title);
the PDF is tagged, in the person's language; nothing is ever fetched."""

from __future__ import annotations

import io
from datetime import date

import pytest
from flask_babel import force_locale, ngettext
from flask_babel import lazy_gettext as _l
from pypdf import PdfReader

from dsar import create_app
from dsar.demo.services.common import serve
from dsar.exports.certificate import (
    ACTION_LABELS,
    ACTION_MEANINGS,
    CERTIFICATE_PDF,
    OUTCOME_LABELS,
    certificate_member,
    render_certificate,
)
from dsar.exports.certificate_content import (
    GROUND_LABELS,
    CertificateContent,
    CertificateLine,
    CertificateRecipient,
    controller_of,
)
from dsar.exports.content import Controller
from dsar.exports.pdf import HEADINGS
from dsar.portal.forms import ERASURE_GROUNDS
from dsar.sources.register import Register
from tests.support.app import app_config

INVOICES_BASIS = "Code de commerce, art. L123-22 (pièces comptables, 10 ans)"
LITIGATION = "Litige en cours devant le tribunal de commerce de Lyon (dossier 2025-118)"
ROTATION = "rotation du fichier le 12 avril 2025"

#: The partial refusal, its remedies, and words of the Art. 15 letter (report.html), as msgids.
REFUSAL = _l("Why we kept part of your data")
REMEDIES = _l("If you disagree with this decision, you may lodge a complaint with the CNIL "
              "(Commission nationale de l'informatique et des libertés, www.cnil.fr, 3 place "
              "de Fontenoy, TSA 80715, 75334 Paris Cedex 07), and you may seek a judicial "
              "remedy before the competent court.")
ACCESS_LETTER = (
    *HEADINGS.values(),
    _l("Summary of the data found"),
    _l("We do not disclose your data to any recipient."),
    _l("Data we must keep even if you ask for its erasure"),
)


@pytest.fixture(scope="module")
def app(tmp_path_factory, key_file):
    """The app, for its templates and translations: the certificate reads no database (an
    in-memory SQLite that is never opened) and no Redis."""
    storage = tmp_path_factory.mktemp("certificate") / "storage"
    return create_app(app_config("sqlite://", "redis://127.0.0.1:1/0", key_file, storage, 1))


@pytest.fixture
def web_server():
    """A real HTTP server on 127.0.0.1 that records every request it gets (none may come)."""
    hits: list[str] = []

    def wsgi(environ, start_response):
        hits.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "image/png")])
        return [b""]

    server, thread, port = serve(wsgi)
    yield f"http://127.0.0.1:{port}", hits
    server.shutdown()
    server.server_close()
    thread.join(10)


def squeeze(text: str) -> str:
    """``text`` without any whitespace: a value wrapped in a table cell reads back whole."""
    return "".join(text.split())


def read(pdf: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return reader, squeeze("\n".join(page.extract_text() for page in reader.pages))


def words(app, language: str, *messages) -> list[str]:
    """``messages`` as the certificate's language shows them, squeezed (before and after the
    catalog has their French)."""
    with app.app_context(), force_locale(language):
        return [squeeze(str(m)) for m in messages]


def lines(kept: bool = True) -> list[CertificateLine]:
    """A person's erasure across three sources; ``kept``: invoices, a litigation file and
    log lines are kept."""
    done = [
        CertificateLine("Plateforme de formation", "Comptes", "erased", 1),
        CertificateLine("Plateforme de formation", "Inscriptions", "erased", 4),
        CertificateLine("CRM", "Contacts", "anonymized", 2),
        CertificateLine("Journaux d'accès", "access.log", "redacted", 37),
    ]
    if not kept:
        return done
    return [*done[:2],
            CertificateLine("Plateforme de formation", "Factures", "kept", 3,
                            basis=INVOICES_BASIS, until="2035-12-31"),
            done[2],
            CertificateLine("CRM", "Réclamations", "kept", 1, reason=LITIGATION),
            done[3],
            CertificateLine("Journaux d'accès", "error.log", "kept", 12,
                            basis="Sécurité du service (journaux de connexion, LCEN)",
                            until=ROTATION)]


RECIPIENTS = (
    CertificateRecipient("Sendinblue SAS", "notified"),
    CertificateRecipient("Zoho Corporation B.V.", "impossible",
                         reason="Le contrat avec ce prestataire a pris fin en 2024."),
    CertificateRecipient("Stripe Payments Europe, Ltd.", "disproportionate",
                         reason="Seules des factures lui ont été transmises."),
    CertificateRecipient("OVH SAS", "pending"),
)


def certificate(language: str = "fr", **changes) -> CertificateContent:
    values = dict(
        reference="DSAR-2025-000042", requester_name="Léa Fontaine-Moreau", language=language,
        received_on=date(2025, 3, 5), carried_out_on=date(2025, 3, 21),
        controller=Controller("Académie Horizon Formation SAS",
                              "12 rue des Tanneurs, 69002 Lyon", "dpo@horizon.example"),
        ground="consent_withdrawn", lines=lines(), recipients=RECIPIENTS,
        verified_on=date(2025, 3, 21))
    values.update(changes)
    return CertificateContent(**values)


def rendered(app, content: CertificateContent) -> tuple[PdfReader, str]:
    with app.app_context():
        return read(render_certificate(content))


LONG_DATES = {
    "fr": ("5 mars 2025", "21 mars 2025", "31 décembre 2035"),
    "en": ("March 5, 2025", "March 21, 2025", "December 31, 2035"),
}


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_certificate_lists_what_was_erased_anonymised_and_kept_and_who_was_told(
        app, language):
    content = certificate(language)
    reader, text = rendered(app, content)

    # Who, what, when: the title, the person, the reference, the dates in her language.
    title, = words(app, language, _l("Erasure certificate"))
    assert title in text
    assert squeeze("Léa Fontaine-Moreau") in text and "DSAR-2025-000042" in text
    for day in LONG_DATES[language]:
        assert squeeze(day) in text, day
    assert squeeze("Académie Horizon Formation SAS") in text
    assert squeeze("12 rue des Tanneurs, 69002 Lyon") in text and "dpo@horizon.example" in text
    ground, = words(app, language, GROUND_LABELS["consent_withdrawn"])
    assert ground in text

    # Per source, every collection with its count and what became of it, in the same table.
    for label in ("Plateforme de formation", "CRM", "Journaux d'accès"):
        assert squeeze(label) in text
    labels = dict(zip(ACTION_LABELS, words(app, language, *ACTION_LABELS.values()),
                      strict=True))
    for line in content.lines:
        assert squeeze(f"{line.collection_label}{line.count}{labels[line.action]}") in text, line
    # Each action explained once, in plain words.
    for meaning in words(app, language, *ACTION_MEANINGS.values()):
        assert text.count(meaning) == 1
    # The summary counts each action across sources.
    with app.app_context(), force_locale(language):
        summary = [squeeze(ngettext(one, many, n)) for one, many, n in (
            ("%(num)d record erased", "%(num)d records erased", 5),
            ("%(num)d record anonymised", "%(num)d records anonymised", 2),
            ("%(num)d record with your details masked",
             "%(num)d records with your details masked", 37),
            ("%(num)d record kept", "%(num)d records kept", 16))]
    for count in summary:
        assert count in text, count

    # Each kept item with its basis (or the DPO's reason) and when it will be gone.
    day = squeeze(LONG_DATES[language][2])
    assert squeeze(f"Factures3{labels['kept']}{INVOICES_BASIS}{day}") in text
    assert squeeze(f"error.log12{labels['kept']}") in text and squeeze(ROTATION) in text
    while_it_applies, = words(app, language, _l("As long as the reason given applies"))
    assert squeeze(f"{LITIGATION}{while_it_applies}") in text

    # The recipients (Art. 19), each outcome in words, with the reasons.
    outcomes = dict(zip(OUTCOME_LABELS, words(app, language, *OUTCOME_LABELS.values()),
                        strict=True))
    for recipient in RECIPIENTS:
        assert squeeze(f"{recipient.name}{outcomes[recipient.outcome]}"
                       f"{recipient.reason or ''}") in text, recipient

    # Something was kept: the partial refusal, its reasons, the CNIL and the courts.
    refusal, remedies = words(app, language, REFUSAL, REMEDIES)
    assert refusal in text and remedies in text
    assert text.index(refusal) < text.index(remedies)
    if language == "fr":  # already in the catalog: the French page says it in French
        assert squeeze("introduire une réclamation auprès de la CNIL") in text
        assert squeeze("exercer un recours devant la juridiction compétente") in text

    # The person's language, a title, a tagged structure (PDF/UA-1, like the report).
    root = reader.trailer["/Root"]
    assert root["/Lang"] == language
    assert root["/MarkInfo"]["/Marked"] and "/StructTreeRoot" in root
    assert "DSAR-2025-000042" in reader.metadata.title
    # Her reference and the page numbers on every page.
    for number, page in enumerate(reader.pages, 1):
        assert squeeze(f"{number}/{len(reader.pages)}") in squeeze(page.extract_text())
        assert "DSAR-2025-000042" in page.extract_text()


@pytest.mark.parametrize("language", ["fr", "en"])
def test_nothing_of_the_access_letter_and_no_article_jargon(app, language):
    _, text = rendered(app, certificate(language))
    for sentence in words(app, language, *ACCESS_LETTER):
        assert sentence not in text, sentence
    # Its own article, cited once under the title as the law is cited in her language; no
    # other article anywhere.
    cited = {"fr": "RGPD,art.17", "en": "GDPR,Art.17"}[language]
    assert text.count(cited) == 1
    folded = text.replace(cited, "").casefold()
    for jargon in ("gdpr", "rgpd", "art.15", "article15", "art.17", "art.19", "art.12"):
        assert jargon not in folded, jargon


@pytest.mark.parametrize("language", ["fr", "en"])
def test_no_partial_refusal_when_nothing_was_kept(app, language):
    content = certificate(language, lines=lines(kept=False))
    assert not content.partial_refusal
    _, text = rendered(app, content)
    refusal, remedies, why, until, kept = words(
        app, language, REFUSAL, REMEDIES, _l("Why it is kept"), _l("Kept until"),
        ACTION_LABELS["kept"])
    for absent in (refusal, remedies, why, until, "CNIL"):
        assert absent not in text, absent
    # Everything that was done is still there, and the person's name.
    assert squeeze("Léa Fontaine-Moreau") in text
    for line in content.lines:
        assert squeeze(f"{line.collection_label}{line.count}") in text
    assert squeeze("Sendinblue SAS") in text


def test_a_single_record_and_an_english_case_in_the_singular(app):
    content = certificate("en", lines=[CertificateLine("CRM", "Contacts", "erased", 1)],
                          recipients=())
    _, text = rendered(app, content)
    assert squeeze("1 record erased") in text and squeeze("1 records") not in text
    nobody, = words(app, "en", _l("We had not shared your data with any other organisation: "
                                  "there was no one else to inform."))
    assert nobody in text


def test_recipients_not_stated_are_left_out_rather_than_said_to_be_none(app):
    _, text = rendered(app, certificate("en", recipients=None))
    heading, nobody = words(app, "en", _l("Who else we informed"), _l(
        "We had not shared your data with any other organisation: there was no one else to "
        "inform."))
    assert heading not in text and nobody not in text
    _, text = rendered(app, certificate("en", recipients=()))
    assert heading in text and nobody in text


def test_nothing_found_says_there_was_nothing_to_erase(app):
    content = certificate("en", lines=(), recipients=(), ground=None, verified_on=None)
    _, text = rendered(app, content)
    assert squeeze("found none about you: there was nothing to erase") in text
    refusal, = words(app, "en", REFUSAL)
    assert refusal not in text and squeeze("Léa Fontaine-Moreau") in text


def test_french_is_the_default_and_a_free_text_ground_is_shown_as_given(app):
    content = certificate("de", ground="Je ne suis plus cliente depuis 2019.",
                          verified_on=None)
    assert content.language == "fr"
    reader, text = rendered(app, content)
    assert reader.trailer["/Root"]["/Lang"] == "fr"
    assert squeeze("Je ne suis plus cliente depuis 2019.") in text
    assert squeeze("5 mars 2025") in text


def test_markup_in_any_text_is_shown_as_text_and_never_fetched(app, web_server):
    url, hits = web_server
    markup = f'<img src="{url}/pixel.png"><link rel="stylesheet" href="{url}/x.css">'
    content = certificate(
        "en", requester_name=f"Léa {markup}",
        lines=[CertificateLine(f"CRM {markup}", f"Contacts {markup}", "kept", 1,
                               basis=markup, until=markup, reason=markup)],
        recipients=[CertificateRecipient(markup, "impossible", reason=markup)])
    _, text = rendered(app, content)
    assert hits == []
    assert squeeze(f"{url}/pixel.png") in text


def test_a_kept_line_needs_a_reason_and_a_closed_notice_too():
    with pytest.raises(ValueError, match="basis or the DPO's reason"):
        CertificateLine("CRM", "Factures", "kept", 2)
    with pytest.raises(ValueError, match="unknown certificate action"):
        CertificateLine("CRM", "Contacts", "deleted", 2)
    with pytest.raises(ValueError, match="not below zero"):
        CertificateLine("CRM", "Contacts", "erased", -1)
    for outcome in ("impossible", "disproportionate"):
        with pytest.raises(ValueError, match="needs its reason"):
            CertificateRecipient("Zoho", outcome)
    with pytest.raises(ValueError, match="unknown notice outcome"):
        CertificateRecipient("Zoho", "sent")
    assert CertificateLine("CRM", "Litiges", "kept", 1, reason=LITIGATION).kept


def test_the_content_groups_by_source_and_counts_by_action():
    content = certificate()
    assert [s for s, _ in content.by_source()] == [
        "Plateforme de formation", "CRM", "Journaux d'accès"]
    assert content.totals() == {"erased": 5, "anonymized": 2, "redacted": 37, "kept": 16}
    assert [line.collection_label for line in content.kept] == [
        "Factures", "Réclamations", "error.log"]
    assert certificate(lines=lines(kept=False)).totals() == {
        "erased": 5, "anonymized": 2, "redacted": 37}


def test_the_controller_comes_from_the_register_or_the_instance():
    register = Register(controller={"name": "Horizon SAS", "address": "Lyon",
                                    "dpo_email": "dpo@horizon.example"})
    assert controller_of(register, "Org", "dpo@org.example") == Controller(
        "Horizon SAS", "Lyon", "dpo@horizon.example")
    assert controller_of(Register(), "Org", "dpo@org.example") == Controller(
        "Org", None, "dpo@org.example")
    # A mapping is accepted where the content is built.
    content = certificate(controller={"name": "Horizon SAS", "dpo_email": "dpo@h.example"})
    assert content.controller == Controller("Horizon SAS", None, "dpo@h.example")


def test_the_grounds_are_the_portals():
    portal = {choice.value: str(choice.label) for choice in ERASURE_GROUNDS if choice.value}
    assert {code: str(label) for code, label in GROUND_LABELS.items()} == portal


def test_the_certificate_as_a_package_member(app):
    member = certificate_member(certificate())
    assert (member.name, member.media_type) == (CERTIFICATE_PDF, "application/pdf")
    out = io.BytesIO()
    with app.app_context():
        member.write(out)
    _, text = read(out.getvalue())
    assert squeeze("Léa Fontaine-Moreau") in text
