"""The answer letters of rectification (Art. 16), restriction (Art. 18) and objection (Art. 21),
read back with pypdf: each is titled as its kind and cites its own article as the law is cited
in the person's language ("RGPD, art. 16"; never "GDPR" on a French page), never the access
letter nor the erasure certificate; before and after values and the supplementary statement;
where a restriction holds, where not and why, the lift date; marketing objection vs other
processing; the Art. 12(4) remedies exactly when part of the request was refused; a letter that
would refuse without saying why cannot be built. The messages are compared as the catalogue
renders them (``words``, from the certificate's tests: remedies and access-letter words are
shared); the French wording is checked by ``test_french_wording_*``, which pass once the
letters' messages are translated."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

import pytest
from babel.support import Translations
from flask_babel import lazy_gettext as _l
from pypdf import PdfReader

from dsar import create_app
from dsar.demo.services.common import serve
from dsar.exports.answer_letters import (
    CORRECTION_LABELS,
    CORRECTION_MEANINGS,
    DECISION_LABELS,
    EMPTY,
    MORE_ACTION_LABELS,
    TITLES,
)
from dsar.exports.certificate import ACTION_LABELS, render_certificate
from dsar.exports.certificate_content import (
    CertificateContent,
    CertificateLine,
    CertificateRecipient,
    CorrectionLine,
    ObjectionDecision,
    citation,
)
from dsar.exports.content import Controller
from dsar.paths import PACKAGE_DIR, TRANSLATIONS_DIR
from tests.support.app import app_config
from tests.test_certificate import ACCESS_LETTER, REMEDIES, read, squeeze, words

REFERENCE = "DSAR-2026-000314"
NAME = "Léa Fontaine-Moreau"
CONTROLLER = Controller("Académie Horizon Formation SAS", "12 rue des Tanneurs, 69002 Lyon",
                        "dpo@horizon.example")
RECIPIENTS = (CertificateRecipient("Sendinblue SAS", "notified"),
              CertificateRecipient("Zoho Corporation B.V.", "impossible",
                                   reason="Le contrat avec ce prestataire a pris fin en 2024."))
REFUSED_REASON = ("La date de naissance figure sur la pièce d'identité fournie à "
                  "l'inscription : nous ne pouvons pas la changer sans justificatif.")
NOT_RESTRICTED_REASON = "Cette sauvegarde sur bande ne peut être modifiée qu'à sa rotation."
GROUNDS = ("La prévention de la fraude aux paiements impose de conserver l'analyse des "
           "connexions pendant six mois (intérêt légitime impérieux).")
STOPPED_TEXT = "Vos données de navigation ne sont plus utilisées pour la mesure d'audience."
ERASURE_TITLE = _l("Erasure certificate")

#: Every letter of this issue: (kind, objection target).
LETTERS = [("rectification", None), ("restriction", None), ("objection", "direct_marketing"),
           ("objection", "other")]
#: The citation each letter must carry, squeezed, per language.
CITED = {("rectification", None): {"fr": "RGPD,art.16", "en": "GDPR,Art.16"},
         ("restriction", None): {"fr": "RGPD,art.18", "en": "GDPR,Art.18"},
         ("objection", "direct_marketing"): {"fr": "RGPD,art.21,paragraphes2et3",
                                             "en": "GDPR,Art.21(2)and(3)"},
         ("objection", "other"): {"fr": "RGPD,art.21", "en": "GDPR,Art.21"}}


@pytest.fixture(scope="module")
def app(tmp_path_factory, key_file):
    """The app, for its templates and translations (no database nor Redis is opened)."""
    storage = tmp_path_factory.mktemp("letters") / "storage"
    return create_app(app_config("sqlite://", "redis://127.0.0.1:1/0", key_file, storage, 1))


def rendered(app, content: CertificateContent) -> tuple[PdfReader, str]:
    """The letter rendered, and its text read back with pypdf, squeezed."""
    with app.app_context():
        return read(render_certificate(content))


def corrections(refused: bool = True) -> tuple[CorrectionLine, ...]:
    """Her e-mail corrected in the CRM, her name completed by a statement in the read-only
    billing history, a phone number added where there was none; ``refused``: her birth date,
    found in no system, not corrected, with the DPO's reason."""
    done = (
        CorrectionLine("CRM", "Contacts", "Adresse e-mail", "lea.fontaine@ancien.example",
                       "lea.fontaine-moreau@nouveau.example", "corrected"),
        # A statement needs no reason: the letter says why (the source cannot be changed).
        CorrectionLine("Facturation", "Factures émises", "Nom du client", "Léa Fontaine",
                       "Léa Fontaine-Moreau", "statement"),
        CorrectionLine("CRM", "Contacts", "Téléphone", None, "06 12 34 56 78", "corrected"),
    )
    if not refused:
        return done
    # Matched to no system: no source, no values (as the case flow fills it).
    return (*done, CorrectionLine("", "", "Date de naissance", None, None, "refused",
                                  reason=REFUSED_REASON))


def restriction_lines(everywhere: bool = False) -> tuple[CertificateLine, ...]:
    """Restricted in the CRM and the training platform; ``everywhere`` false: not in the tape
    backup, with the reason."""
    held = (CertificateLine("CRM", "Contacts", "restricted", 2),
            CertificateLine("Plateforme de formation", "Comptes", "restricted", 1))
    if everywhere:
        return held
    return (*held, CertificateLine("Sauvegardes", "Bandes mensuelles", "not_restricted", 1,
                                   reason=NOT_RESTRICTED_REASON))


DECISIONS = (ObjectionDecision("Mesure d'audience du site", "stopped", STOPPED_TEXT),
             ObjectionDecision("Prévention de la fraude", "grounds", GROUNDS))


def letter(kind: str, language: str = "fr", target: str | None = None,
           **changes) -> CertificateContent:
    """A letter of ``kind`` (and objection ``target``) with everything it can say."""
    values = dict(
        reference=REFERENCE, requester_name=NAME, language=language,
        received_on=date(2026, 11, 3), carried_out_on=date(2026, 11, 20),
        controller=CONTROLLER, recipients=RECIPIENTS, verified_on=date(2026, 11, 20),
        kind=kind, objection_target=target)
    if kind == "rectification":
        values["corrections"] = corrections()
    elif kind == "restriction":
        values.update(lines=restriction_lines(), lift_on=date(2027, 1, 12))
    elif target == "direct_marketing":
        values.update(lines=(CertificateLine("Lettre d'information", "Abonnés", "unsubscribed",
                                             1),), recipients=None)
    else:
        values.update(decisions=DECISIONS, lines=(
            CertificateLine("Mesure d'audience", "Visites", "erased", 48),))
    values.update(changes)
    return CertificateContent(**values)


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize(("kind", "target"), LETTERS)
def test_each_letter_is_titled_as_its_kind_and_cites_its_own_article(app, kind, target,
                                                                      language):
    content = letter(kind, language, target)
    reader, text = rendered(app, content)

    # Its title, its article cited once as the law is cited in her language.
    title, = words(app, language, TITLES[kind])
    assert title in text
    cited = CITED[(kind, target)][language]
    assert text.count(cited) == 1, cited
    # The same citation for the e-mails (and French for any other language).
    assert squeeze(content.citation) == cited == squeeze(citation(kind, language, target))
    assert citation(kind, "de", target) == citation(kind, "fr", target)
    # No other article, nor the other language's way of citing (never "GDPR" in French).
    folded = text.replace(cited, "").casefold()
    for other in ("art.15", "article15", "art.17", "art.19", "art.12", "art.6"):
        assert other not in folded, other
    assert ("gdpr" if language == "fr" else "rgpd") not in text.casefold()
    # Never the access letter, never the erasure certificate.
    for sentence in words(app, language, *ACCESS_LETTER, ERASURE_TITLE):
        assert sentence not in text, sentence

    # Her, her reference, the dates in her language, the controller.
    assert squeeze(NAME) in text and REFERENCE in text and "dpo@horizon.example" in text
    assert {"fr": "3novembre2026", "en": "November3,2026"}[language] in text

    # Tagged, in her language, titled with her reference and the kind (not "erasure").
    root = reader.trailer["/Root"]
    assert root["/Lang"] == language
    assert root["/MarkInfo"]["/Marked"] and "/StructTreeRoot" in root
    assert REFERENCE in reader.metadata.title
    assert "erasure" not in reader.metadata.title.casefold()


@pytest.mark.parametrize("language", ["fr", "en"])
def test_rectification_shows_each_value_before_and_after_and_the_statement(app, language):
    content = letter("rectification", language)
    _, text = rendered(app, content)
    labels = dict(zip(CORRECTION_LABELS, words(app, language, *CORRECTION_LABELS.values()),
                      strict=True))
    empty, = words(app, language, EMPTY)
    # Per source, each field with where it is, before, after and what was done, in one row.
    other, = words(app, language, _l("Other corrections you asked for"))
    for source in ("CRM", "Facturation", other):
        assert squeeze(source) in text
    for c in content.corrections:
        before = c.old_value if c.old_value is not None else "" if c.refused else empty
        assert squeeze(f"{c.collection_label}{c.field_label}{before}{c.new_value or ''}"
                       f"{labels[c.outcome]}") in text, c
    # The supplementary statement explained: the source cannot be changed, her statement is
    # kept with her data and given with every later copy of it.
    statement, = words(app, language, CORRECTION_MEANINGS["statement"])
    assert text.count(statement) == 1
    # The refused one with the DPO's words, then the remedies (a partial refusal).
    assert squeeze(f"{labels['refused']}{REFUSED_REASON}") in text
    remedies, = words(app, language, REMEDIES)
    assert content.partial_refusal and remedies in text
    assert text.index(squeeze(REFUSED_REASON)) < text.index(remedies)
    # The recipients told of the corrections (Art. 19).
    informed, = words(app, language, _l("Informed of the corrections"))
    assert informed in text and squeeze("Zoho Corporation B.V.") in text


@pytest.mark.parametrize("language", ["fr", "en"])
def test_restriction_says_where_it_holds_where_it_could_not_and_the_lift_date(app, language):
    content = letter("restriction", language)
    _, text = rendered(app, content)
    holds, could_not, only_stored = words(
        app, language, _l("Where the restriction holds"), _l("Where we could not apply it"),
        _l("While the restriction holds, we only store your data: we do not use it in any "
           "other way without your consent, except to establish, exercise or defend legal "
           "claims, to protect the rights of another person, or for important reasons of "
           "public interest. We will tell you before the restriction is lifted."))
    assert only_stored in text
    assert text.index(holds) < text.index(squeeze("CRMContacts2")) < text.index(could_not)  # order
    assert squeeze("Plateforme de formationComptes1") in text
    assert squeeze(f"SauvegardesBandes mensuelles1{NOT_RESTRICTED_REASON}") in text
    assert text.index(could_not) < text.index(squeeze("Bandes mensuelles"))
    # The announced lift, dated in her language.
    lift = {"fr": "12janvier2027", "en": "January12,2027"}[language]
    assert lift in text
    remedies, informed, lifting = words(app, language, REMEDIES, _l("Informed of the restriction"),
                                        _l("Lifting the restriction"))
    assert content.partial_refusal and remedies in text
    assert informed in text and lifting in text

    # Applied everywhere, no lift announced: neither section is there.
    _, text = rendered(app, replace(content, lines=restriction_lines(everywhere=True),
                                    lift_on=None))
    assert holds in text
    for absent in (could_not, lifting, remedies):
        assert absent not in text, absent


@pytest.mark.parametrize("language", ["fr", "en"])
def test_objection_to_direct_marketing_needs_no_reason_and_stops_every_contact(app, language):
    content = letter("objection", language, "direct_marketing")
    _, text = rendered(app, content)
    where, no_reason, suppressed, decisions = words(
        app, language, _l("Where we unsubscribed you"),
        _l("You did not need to give any reason: the law gives you this right without "
           "condition, and we did not weigh it against our own interests."),
        _l("We have added your address to the list of people we must not contact again for "
           "direct marketing. We check this list before adding anyone to a mailing list."),
        _l("Our decision for each processing"))
    assert no_reason in text and suppressed in text
    assert text.index(where) < text.index(squeeze("Lettre d'informationAbonnés1"))
    # Nothing to decide, nothing refused: no decisions, no remedies.
    remedies, = words(app, language, REMEDIES)
    assert decisions not in text and remedies not in text and "CNIL" not in text
    assert not content.partial_refusal
    # On no list: she is told so, and her address is on the suppression list all the same.
    _, text = rendered(app, replace(content, lines=()))
    none, = words(app, language, _l("You were on none of our mailing lists."))
    assert none in text and suppressed in text


@pytest.mark.parametrize("language", ["fr", "en"])
def test_objection_to_other_processing_gives_each_decision_and_the_grounds(app, language):
    content = letter("objection", language, "other")
    _, text = rendered(app, content)
    labels = dict(zip(DECISION_LABELS, words(app, language, *DECISION_LABELS.values()),
                      strict=True))
    assert squeeze(f"Mesure d'audience du site{labels['stopped']}{STOPPED_TEXT}") in text
    assert squeeze(f"Prévention de la fraude{labels['grounds']}{GROUNDS}") in text
    # What stopping did to the data, and the remedies after the grounds.
    erased, = words(app, language, ACTION_LABELS["erased"])
    assert squeeze(f"Mesure d'audienceVisites48{erased}") in text
    remedies, unsubscribed = words(app, language, REMEDIES, _l("Where we unsubscribed you"))
    assert text.index(squeeze(GROUNDS)) < text.index(remedies)
    assert unsubscribed not in text


@pytest.mark.parametrize(("content", "refused"), [
    (letter("rectification"), True),
    (letter("rectification", corrections=corrections(refused=False)), False),
    (letter("restriction"), True),
    (letter("restriction", lines=restriction_lines(everywhere=True)), False),
    (letter("objection", target="other"), True),
    # What is stopped needs no text.
    (letter("objection", target="other", decisions=(ObjectionDecision("Visites", "stopped"),)),
     False),
    (letter("objection", target="direct_marketing"), False),
], ids=["rectification-refused", "rectification-done", "restriction-not-everywhere",
        "restriction-everywhere", "objection-grounds", "objection-stopped", "marketing"])
def test_the_remedies_appear_exactly_when_part_of_the_request_was_refused(app, content,
                                                                          refused):
    assert content.partial_refusal is refused
    for language in ("fr", "en"):
        _, text = rendered(app, replace(content, language=language))
        remedies, = words(app, language, REMEDIES)
        assert (remedies in text) is refused and ("CNIL" in text) is refused, language


def test_markup_in_any_new_text_is_shown_as_text_and_never_fetched(app):
    hits: list[str] = []  # a real HTTP server on 127.0.0.1: any request it gets is a fetch

    def wsgi(environ, start_response):
        hits.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "image/png")])
        return [b""]

    server, thread, port = serve(wsgi)
    url = f"http://127.0.0.1:{port}"
    markup = f'<img src="{url}/pixel.png"><link rel="stylesheet" href="{url}/x.css">'
    try:
        for content in (
                letter("rectification", "en", corrections=(CorrectionLine(
                    markup, markup, markup, markup, markup, "refused", reason=markup),)),
                letter("restriction", "en", lines=(
                    CertificateLine(markup, markup, "not_restricted", 1, reason=markup),)),
                letter("objection", "en", "other", lines=(), decisions=(
                    ObjectionDecision(markup, "grounds", markup),))):
            assert squeeze(f"{url}/pixel.png") in rendered(app, content)[1], content.kind
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    assert hits == []


@pytest.mark.parametrize(("kind", "target", "empty", "said"), [
    ("rectification", None, {"corrections": ()}, "found none of the data you asked us to correct"),
    ("restriction", None, {"lines": (), "lift_on": None}, "there was nothing to restrict"),
    ("objection", "other", {"lines": (), "decisions": ()}, "examined each processing"),
])
def test_a_letter_with_nothing_found_says_so(app, kind, target, empty, said):
    _, text = rendered(app, letter(kind, "en", target, **empty))
    assert squeeze(said) in text and squeeze(NAME) in text and "CNIL" not in text


@pytest.mark.parametrize(("build", "error"), [
    # Nothing refused without the reason the person reads (Art. 12(4), Art. 21(1)).
    (lambda: CorrectionLine("CRM", "Contacts", "Nom", "A", "B", "refused"),
     "refused correction needs the DPO's reason"),
    (lambda: ObjectionDecision("Prévention de la fraude", "grounds"), "compelling grounds"),
    (lambda: ObjectionDecision("Prévention de la fraude", "grounds", "  "),
     "compelling grounds"),
    (lambda: CertificateLine("Sauvegardes", "Bandes", "not_restricted", 1),
     "not_restricted line needs its reason"),
    # Unknown outcomes, decisions and kinds are errors, not blank cells.
    (lambda: CorrectionLine("CRM", "Contacts", "Nom", "A", "B", "done"),
     "unknown correction outcome"),
    (lambda: ObjectionDecision("Mesure d'audience", "balanced"), "unknown objection decision"),
    (lambda: letter("portability"), "unknown letter kind"),
    # What a letter has no words for, or another kind's contents.
    (lambda: letter("restriction", lines=(
        CertificateLine("CRM", "Factures", "kept", 1, basis="Code de commerce"),)),
     "restriction letter cannot report 'kept'"),
    (lambda: letter("restriction", corrections=corrections()), "corrections belong"),
    (lambda: letter("rectification", lift_on=date(2027, 1, 12)), "lift date belongs"),
    (lambda: letter("objection", target=None), "objection letter needs its target"),
    (lambda: letter("restriction", target="other"), "objection target belongs"),
    (lambda: letter("objection", target="direct_marketing", decisions=DECISIONS),
     "decisions belong"),
])
def test_a_letter_cannot_refuse_without_saying_why_nor_say_what_it_cannot_explain(build, error):
    with pytest.raises(ValueError, match=error):
        build()


# --- French wording: these pass once the lead has translated the letters' messages -------

TEMPLATES = PACKAGE_DIR.parent / "templates" / "exports"
MSGID = re.compile(r"""\b_l?\(\s*(?:"((?:[^"\\]|\\.)+)"|'((?:[^'\\]|\\.)+)')""")
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
#: The French titles the letters must carry (the DPO's words).
FRENCH_TITLES = {"rectification": "Rectification de vos données",
                 "restriction": "Limitation du traitement de vos données",
                 "objection": "Votre opposition au traitement de vos données"}


def english_left(text: str, *template_names: str, messages=()) -> list[str]:
    """The msgids of ``template_names`` and ``messages`` that the French catalogue does not
    translate and that appear in ``text`` (squeezed)."""
    catalogue = Translations.load(str(TRANSLATIONS_DIR), ["fr"])._catalog
    msgids = [str(m._args[0]) if hasattr(m, "_args") else str(m) for m in messages]
    for name in template_names:
        for match in MSGID.finditer((TEMPLATES / name).read_text(encoding="utf-8")):
            msgids.append(match.group(1) or match.group(2))
    # A message with placeholders is found by its literal parts long enough to be its own.
    return [m for m in dict.fromkeys(msgids) if not catalogue.get(m) and any(
        (len(part) >= 15 or part == m) and squeeze(part) in text
        for part in PLACEHOLDER.split(m))]


@pytest.mark.parametrize(("kind", "target"), LETTERS)
def test_french_wording_of_each_letter(app, kind, target):
    """Each letter in French: its French title, and no English message of its own left."""
    _, text = rendered(app, letter(kind, "fr", target))
    assert squeeze(FRENCH_TITLES[kind]) in text
    left = english_left(text, "certificate.html", "_lines.html", f"_{kind}.html",
                        messages=(*TITLES.values(), *MORE_ACTION_LABELS.values(),
                                  *CORRECTION_LABELS.values(), *CORRECTION_MEANINGS.values(),
                                  *DECISION_LABELS.values(), EMPTY))
    assert left == [], left
