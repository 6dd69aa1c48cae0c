"""The machinery of ``bench/exports.py``: an instance in a temporary folder (master key,
encrypted storage, the dsar database from the migrations), two SQLite source databases where
chosen people have a known number of records, cases gathered through
``dsar.search.gathering`` (so the search results are stored exactly as the workers store
them), the instrumented package build run in a fresh process (the worker), and the checks
of the package it built.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import resource
import sqlite3
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

PLATFORM_TABLES = """
CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT NOT NULL, first_name TEXT,
                       last_name TEXT, birth_date TEXT, phone TEXT, password_hash TEXT,
                       created_on TEXT);
CREATE TABLE enrolments (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES accounts(id),
                         course TEXT, started_on TEXT, status TEXT, funding TEXT);
CREATE TABLE invoices (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES accounts(id),
                       number TEXT, amount_eur REAL, issued_on TEXT, paid INTEGER);
CREATE TABLE activity (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES accounts(id),
                       occurred_at TEXT, event TEXT, page TEXT, ip TEXT, user_agent TEXT);
CREATE INDEX ix_accounts_email ON accounts (lower(email));
CREATE INDEX ix_enrolments_user ON enrolments (user_id);
CREATE INDEX ix_invoices_user ON invoices (user_id);
CREATE INDEX ix_activity_user ON activity (user_id);
"""
HELPDESK_TABLES = """
CREATE TABLE tickets (id INTEGER PRIMARY KEY, email TEXT NOT NULL, subject TEXT, body TEXT,
                      opened_on TEXT, status TEXT);
CREATE TABLE messages (id INTEGER PRIMARY KEY, ticket_id INTEGER NOT NULL REFERENCES tickets(id),
                       author TEXT, body TEXT, sent_at TEXT);
CREATE INDEX ix_tickets_email ON tickets (lower(email));
CREATE INDEX ix_messages_ticket ON messages (ticket_id);
"""

SOURCES_TOML = """
[sources.platform]
kind = "sql"
label = "Plateforme de formation"
label_en = "Training platform"
url = "sqlite:///{instance}/platform.sqlite"

[sources.platform.collections.accounts]
match = {{ email = "email" }}
exclude = ["password_hash"]
erasure = "anonymize"
anonymize = {{ email = "hash", first_name = "null", last_name = "null", phone = "null" }}
fields = {{ id = "identification", email = "contact", first_name = "identification", \
last_name = "identification", birth_date = "identification", phone = "contact", \
password_hash = "authentication", created_on = "training" }}

[sources.platform.collections.enrolments]
follow = {{ user_id = "accounts.id" }}
erasure = "delete"
fields = {{ id = "training", user_id = "identification", course = "training", \
started_on = "training", status = "training", funding = "financial" }}

[sources.platform.collections.invoices]
follow = {{ user_id = "accounts.id" }}
erasure = "retain"
retain_basis = "Code de commerce L123-22"
retain_until = "10 ans après la clôture de l'exercice"
fields = {{ id = "financial", user_id = "identification", number = "financial", \
amount_eur = "financial", issued_on = "financial", paid = "financial" }}

[sources.platform.collections.activity]
follow = {{ user_id = "accounts.id" }}
erasure = "delete"
fields = {{ id = "connection", user_id = "identification", occurred_at = "connection", \
event = "navigation", page = "navigation", ip = "connection", user_agent = "connection" }}

[sources.helpdesk]
kind = "sql"
label = "Service client"
label_en = "Customer service"
url = "sqlite:///{instance}/helpdesk.sqlite"

[sources.helpdesk.collections.tickets]
match = {{ email = "email" }}
erasure = "delete"
fields = {{ id = "correspondence", email = "contact", subject = "correspondence", \
body = "free_text", opened_on = "correspondence", status = "correspondence" }}

[sources.helpdesk.collections.messages]
follow = {{ ticket_id = "tickets.id" }}
erasure = "delete"
fields = {{ id = "correspondence", ticket_id = "correspondence", author = "correspondence", \
body = "free_text", sent_at = "correspondence" }}
"""

REGISTER_TOML = """
[controller]
name = "Forma+ Benchmark SAS"
address = "12 rue de la Roquette, 75011 Paris"
dpo_email = "dpo@formaplus.example"

[categories.identification]
label = "Données d'identification"
label_en = "Identification data"
[categories.contact]
label = "Coordonnées"
label_en = "Contact details"
[categories.training]
label = "Parcours de formation"
label_en = "Training"
[categories.financial]
label = "Informations d'ordre économique et financier"
label_en = "Economic and financial information"
[categories.authentication]
label = "Données d'authentification"
label_en = "Authentication data"
[categories.connection]
label = "Données de connexion"
label_en = "Connection data"
[categories.navigation]
label = "Données de navigation"
label_en = "Browsing data"
[categories.correspondence]
label = "Correspondance avec nos services"
label_en = "Correspondence with our staff"
[categories.free_text]
label = "Texte libre"
label_en = "Free text"

[recipients.ovh]
name = "OVH SAS"
role = "Hébergement (sous-traitant)"
role_en = "Hosting (processor)"
country = "FR"
[recipients.stripe]
name = "Stripe Payments Europe, Ltd."
role = "Paiement en ligne"
role_en = "Online payments"
country = "IE"
[recipients.zendesk]
name = "Zendesk, Inc."
role = "Outil du service client (sous-traitant)"
role_en = "Customer service tool (processor)"
country = "US"

[processing.training]
purpose = "Gestion des inscriptions et du suivi des formations"
purpose_en = "Managing enrolments and training follow-up"
legal_basis = "contract"
categories = ["identification", "contact", "training", "authentication", "connection", \
"navigation", "financial"]
recipients = ["ovh"]
retention = "Durée du contrat, puis 5 ans"
retention_en = "The contract, then 5 years"
origin = "Vous-même, lors de l'inscription"
origin_en = "Yourself, when you enrolled"
sources = ["platform"]
automated_decision = false

[processing.invoicing]
purpose = "Facturation et comptabilité"
purpose_en = "Invoicing and accounting"
legal_basis = "legal_obligation"
categories = ["identification", "financial"]
recipients = ["ovh", "stripe"]
retention = "10 ans (Code de commerce, art. L123-22)"
retention_en = "10 years (French Commercial Code, art. L123-22)"
origin = "Vous-même"
origin_en = "Yourself"
sources = ["platform"]
automated_decision = false

[[processing.invoicing.transfers]]
recipient = "stripe"
country = "US"
safeguard = "Décision d'adéquation EU-US Data Privacy Framework"
safeguard_en = "EU-US Data Privacy Framework adequacy decision"

[processing.support]
purpose = "Assistance aux utilisateurs"
purpose_en = "User support"
legal_basis = "contract"
categories = ["contact", "correspondence", "free_text"]
recipients = ["zendesk"]
retention = "3 ans après la clôture de la demande"
retention_en = "3 years after the request is closed"
origin = "Vous-même"
origin_en = "Yourself"
sources = ["helpdesk"]
automated_decision = false

[[processing.support.transfers]]
recipient = "zendesk"
country = "US"
safeguard = "Clauses contractuelles types (décision 2021/914)"
safeguard_en = "Standard contractual clauses (decision 2021/914)"
"""

#: (source, collection) -> the share of a person's records it holds; ``accounts`` holds one
#: and ``activity`` the rest.
SHARES = {("platform", "enrolments"): 0.05, ("platform", "invoices"): 0.03,
          ("helpdesk", "tickets"): 0.01, ("helpdesk", "messages"): 0.03}
COURSES = ["Excel avancé", "Anglais B2", "Gestion de projet", "Python", "Management d'équipe",
           "Comptabilité", "Secourisme", "Prise de parole en public"]
PAGES = ["/", "/catalogue", "/formations/python", "/formations/excel", "/compte",
         "/compte/factures", "/recherche?q=management", "/cours/3/module/2", "/contact"]
EVENTS = ["page_view", "login", "video_play", "quiz_submit", "download", "logout"]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile"]
FIRST = ["Camille", "Léa", "Hugo", "Chloé", "Lucas", "Manon", "Nathan", "Inès", "Zoé", "Noël"]
LAST = ["Martin", "Bernard", "Dubois", "Lefèvre", "Garcia", "Müller", "N'Diaye", "Rousseau"]
#: People in the source databases besides the ones measured (so the search really filters).
OTHER_PEOPLE = 200
OTHERS_RECORDS = 30


@dataclass(frozen=True)
class Person:
    """Someone whose answer is built: their address and their records per collection."""

    email: str
    counts: dict[tuple[str, str], int]

    @property
    def total(self) -> int:
        """Records seeded for this person, all collections together."""
        return sum(self.counts.values())


def split(records: int) -> dict[tuple[str, str], int]:
    """``records`` spread over the six collections (one account, most of it activity)."""
    if records < 6:
        raise ValueError("a person needs at least 6 records (one per collection)")
    counts = {("platform", "accounts"): 1}
    counts |= {key: max(1, int(records * share)) for key, share in SHARES.items()}
    counts[("platform", "activity")] = records - sum(counts.values())
    return counts


def email_of(label: str, index: int) -> str:
    return f"{label}.{index}@bench.example"


class _Ids:
    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def next(self, table: str) -> int:
        self.values[table] = self.values.get(table, 0) + 1
        return self.values[table]


def seed_sources(instance: Path, people: list[Person], seed: int = 2026) -> None:
    """Write ``platform.sqlite`` and ``helpdesk.sqlite`` in ``instance``: each of ``people``
    with exactly their counts, plus :data:`OTHER_PEOPLE` others with a few records each."""
    rng = random.Random(seed)
    ids = _Ids()
    others = [Person(email_of("other", i), split(OTHERS_RECORDS)) for i in range(OTHER_PEOPLE)]
    everyone = [*people, *others]
    rng.shuffle(everyone)
    day0 = date(2019, 1, 1)
    platform = sqlite3.connect(instance / "platform.sqlite")
    helpdesk = sqlite3.connect(instance / "helpdesk.sqlite")
    platform.executescript(PLATFORM_TABLES)
    helpdesk.executescript(HELPDESK_TABLES)
    for person in everyone:
        c = person.counts
        uid = ids.next("accounts")
        first, last = rng.choice(FIRST), rng.choice(LAST)
        platform.execute("INSERT INTO accounts VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (
            uid, person.email.upper() if uid % 7 == 0 else person.email, first, last,
            (day0 - timedelta(days=rng.randint(7000, 20000))).isoformat(),
            f"+33 6 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} "
            f"{rng.randint(10, 99)}", "$argon2id$v=19$m=65536,t=3,p=4$" + "a" * 43,
            (day0 + timedelta(days=rng.randint(0, 2000))).isoformat()))
        platform.executemany("INSERT INTO enrolments VALUES (?, ?, ?, ?, ?, ?)", (
            (ids.next("enrolments"), uid, rng.choice(COURSES),
             (day0 + timedelta(days=rng.randint(0, 2500))).isoformat(),
             rng.choice(["suivie", "terminée", "abandonnée"]),
             rng.choice(["CPF", "OPCO", "personnel", None]))
            for _ in range(c[("platform", "enrolments")])))
        platform.executemany("INSERT INTO invoices VALUES (?, ?, ?, ?, ?, ?)", (
            (n, uid, f"F-{n:08d}", rng.randint(9000, 240000) / 100,
             (day0 + timedelta(days=rng.randint(0, 2500))).isoformat(), rng.random() < 0.9)
            for n in (ids.next("invoices") for _ in range(c[("platform", "invoices")]))))
        start = datetime(2024, 1, 1) + timedelta(seconds=rng.randint(0, 10**7))
        platform.executemany("INSERT INTO activity VALUES (?, ?, ?, ?, ?, ?, ?)", (
            (ids.next("activity"), uid,
             (start + timedelta(seconds=37 * i)).isoformat(timespec="seconds") + "Z",
             rng.choice(EVENTS), rng.choice(PAGES),
             f"203.0.{rng.randint(0, 255)}.{rng.randint(1, 254)}", rng.choice(AGENTS))
            for i in range(c[("platform", "activity")])))
        tickets = []
        for _ in range(c[("helpdesk", "tickets")]):
            tid = ids.next("tickets")
            tickets.append(tid)
            helpdesk.execute("INSERT INTO tickets VALUES (?, ?, ?, ?, ?, ?)", (
                tid, person.email, "Accès au module « Tableaux croisés »",
                "Bonjour, je n'arrive pas à ouvrir le module 3 depuis hier ; le lecteur reste "
                "sur « chargement… ». Pouvez-vous regarder ? Merci, " + first,
                (day0 + timedelta(days=rng.randint(0, 2500))).isoformat(),
                rng.choice(["ouvert", "résolu"])))
        helpdesk.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?)", (
            (ids.next("messages"), tickets[i % len(tickets)],
             rng.choice(["client", "agent"]),
             "=Bonjour, merci pour votre message. Nous revenons vers vous sous 48 h. " * 2,
             (start + timedelta(hours=i)).isoformat(timespec="seconds") + "Z")
            for i in range(c[("helpdesk", "messages")])))
    platform.commit()
    helpdesk.commit()
    platform.close()
    helpdesk.close()


def write_instance(instance: Path) -> None:
    """The master key and the two TOML files of a benchmark instance."""
    from dsar.core.keys import create_master_key

    create_master_key(instance / "dsar.key")
    (instance / "sources.toml").write_text(SOURCES_TOML.format(instance=instance))
    (instance / "register.toml").write_text(REGISTER_TOML)


def app_config(instance: Path) -> dict:
    """The app's configuration: everything in ``instance``; no Redis is needed (jobs are
    called directly), so its URL points where nothing listens."""
    return {
        "DATABASE_URL": f"sqlite:///{instance / 'dsar.sqlite3'}",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "RATELIMIT_STORAGE_URI": "memory://",
        "MASTER_KEY_FILE": str(instance / "dsar.key"),
        "STORAGE_DIR": str(instance / "storage"),
        "SOURCES_FILE": str(instance / "sources.toml"),
        "REGISTER_FILE": str(instance / "register.toml"),
        "BASE_URL": "http://localhost",
        "ORGANISATION_NAME": "Forma+ Benchmark SAS",
        "DPO_EMAIL": "dpo@formaplus.example",
        "MAIL_FROM": "dsar@formaplus.example",
        "LOG_LEVEL": "WARNING",
    }


def make_app(instance: Path):
    from dsar import create_app

    return create_app(app_config(instance))


def migrate(app) -> None:
    """The dsar schema, from the migrations (what production runs)."""
    from flask_migrate import upgrade

    from dsar.extensions import db

    # Alembic's logging config binds its handler to the stderr of the moment: its INFO lines
    # go to this buffer, not to the benchmark's output.
    with app.app_context(), redirect_stderr(io.StringIO()):
        upgrade()
        db.engine.dispose()


def gathered_case(app, person: Person, language: str = "fr") -> tuple[int, float]:
    """An access case of ``person`` searched through ``dsar.search.gathering`` (each source's search
    and the fan-in, called as the jobs call them) until it is in ``review``. Returns its id
    and the seconds the search took."""
    from dsar.cases.workflow import create_case, transition
    from dsar.extensions import db
    from dsar.models import ActorType, Case, CaseKind, CaseStatus
    from dsar.search import gathering

    with app.app_context():
        case = create_case(kind=CaseKind.ACCESS, requester_name="Camille Bench",
                           requester_email=person.email, language=language)
        for step in (CaseStatus.CONFIRMED, CaseStatus.VERIFIED, CaseStatus.IN_PROGRESS):
            transition(case, step, actor_type=ActorType.SYSTEM)
        planned = gathering.prepare(case)
        db.session.commit()
        case_id = case.id
        began = time.perf_counter()
        for _ in range(10):  # rounds
            for item in planned:
                outcome = gathering.gather(case_id, item.source)
                if outcome != "done":
                    raise SystemExit(f"search of {item.source} for case {case_id}: {outcome}")
            outcome, planned = gathering.collect(case_id)
            if outcome == "review":
                break
        else:
            raise SystemExit(f"case {case_id} never reached review")
        seconds = time.perf_counter() - began
        if db.session.get(Case, case_id).status is not CaseStatus.REVIEW:
            raise SystemExit(f"case {case_id} is not in review")
        db.session.remove()
    return case_id, seconds


# ------------------------------------------------------------------- the worker's side


def rss_mb() -> float:
    """This process's resident memory now (Linux), in MB."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def hwm_mb() -> float:
    """This process's peak resident memory so far (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def maxrss_mb() -> float:
    """``ru_maxrss`` of this process (getrusage), in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Phases:
    """Wall time, CPU time and resident memory of named phases of one build. No sampling
    thread (it would compete for the GIL): the process's peak so far (VmHWM) is read at each
    phase's end. It bounds the memory the phase reached, exactly when the phase raised it."""

    def __init__(self) -> None:
        self.figures: dict[str, dict] = {}
        self.order: list[str] = []

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        figure = self.figures.get(name)
        if figure is None:
            figure = self.figures[name] = {"seconds": 0.0, "cpu": 0.0, "calls": 0,
                                           "rss_start_mb": rss_mb(), "hwm_end_mb": 0.0,
                                           "set_peak": False}
            self.order.append(name)
        hwm_before = hwm_mb()
        began, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            figure["seconds"] += time.perf_counter() - began
            figure["cpu"] += time.process_time() - cpu
            figure["calls"] += 1
            figure["hwm_end_mb"] = hwm = hwm_mb()
            figure["set_peak"] |= hwm > hwm_before + 0.5

    def wrap(self, owner, attribute: str, name: str) -> bool:
        """Time every call of ``owner.attribute`` as phase ``name`` (False if it does not
        exist: the code measured changed). Iterators are not wrapped: only plain calls."""
        original = getattr(owner, attribute, None)
        if original is None:
            return False

        def timed(*args, **kwargs):
            with self.phase(name):
                return original(*args, **kwargs)

        timed.__wrapped__ = original  # type: ignore[attr-defined]
        setattr(owner, attribute, timed)
        return True

    def report(self) -> list[dict]:
        return [{"name": n, **self.figures[n]} for n in self.order]


def instrument(phases: Phases) -> list[str]:
    """Wrap the steps of ``build_package`` so their time and memory show; returns the steps
    that could not be found (the exports code changed). Behaviour is unchanged: each wrapper
    calls the original with the same arguments."""
    import weasyprint
    import weasyprint.document

    from dsar.exports import build, package, pdf

    steps: list[tuple[object, str, str]] = [
        (build, "build_content", "content (first pass: fields, counts)"),
        (package, "write_json", "export.json member"),
        (package, "write_csv", "CSV members"),
        (pdf, "render_report", "report.pdf member"),
        (pdf, "_context", "  PDF: tables (records read, capped)"),
        (pdf, "json_attachment_of", "  PDF: export.json attachment (in memory)"),
        (weasyprint.HTML, "render", "  PDF: WeasyPrint layout"),
        (weasyprint.document.Document, "write_pdf", "  PDF: WeasyPrint write (+ attachment)"),
    ]
    return [f"{getattr(owner, '__name__', owner)}.{attribute}"
            for owner, attribute, name in steps if not phases.wrap(owner, attribute, name)]


def build_in_this_process(instance: Path, case_ids: list[int], instrumented: bool) -> dict:
    """Run the package job for each case, one after the other, in this (fresh) process; the
    figures and this process's own peak RSS. Called in the child process.

    ``ru_maxrss`` of a process that was exec'd carries the peak of the image it replaced (Linux
    keeps the larger): spawned from a parent of 300 MB, a new interpreter reports 300 MB before
    doing anything. The caller keeps its own memory small, and ``ru_maxrss`` is checked against
    ``VmHWM`` (this process's own address space only)."""
    figures: dict = {"rss_before_app_mb": rss_mb(), "maxrss_at_start_mb": maxrss_mb()}
    app = make_app(instance)
    import dsar.exports.build  # noqa: F401  (a worker has imported it after its first job)
    from workers import jobs
    from workers.app import set_app

    set_app(app)
    phases = Phases() if instrumented else None
    missing = instrument(phases) if phases else []
    figures["baseline_rss_mb"] = rss_mb()
    figures["baseline_maxrss_mb"] = maxrss_mb()
    runs = []
    for case_id in case_ids:
        began, cpu = time.perf_counter(), time.process_time()
        outcome = jobs.build_package(case_id)
        runs.append({"case_id": case_id, "outcome": outcome,
                     "seconds": time.perf_counter() - began, "cpu": time.process_time() - cpu})
    figures["runs"] = runs
    figures["phases"] = phases.report() if phases else []
    figures["missing_steps"] = missing
    figures["peak_maxrss_mb"] = maxrss_mb()
    figures["peak_hwm_mb"] = hwm_mb()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures["cpu_user"], figures["cpu_system"] = usage.ru_utime, usage.ru_stime
    return figures


# ----------------------------------------------------------------------- the checks


def _sha256(stream: io.BufferedIOBase) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def check_package(app, case_id: int, person: Person, workdir: Path,
                  deep: bool = True) -> dict:
    """Check what the build stored for ``case_id``: one ready package whose record count is
    the number seeded; the encrypted blob decrypts to the ZIP whose sum the row holds; the ZIP
    is sound; every manifest sum matches; ``export.json`` holds each collection's records;
    each CSV a row per record; ``report.pdf`` is a PDF naming the case's reference with
    ``export.json`` attached. Raises AssertionError on the first fault; returns sizes."""
    from sqlalchemy import select

    from dsar.core import storage
    from dsar.extensions import db
    from dsar.models import Case, ExportPackage, PackageStatus

    with app.app_context():
        reference = db.session.get(Case, case_id).reference
        rows = db.session.scalars(select(ExportPackage).where(
            ExportPackage.case_id == case_id)).all()
        assert len(rows) == 1, f"case {case_id}: {len(rows)} packages"
        row = rows[0]
        assert row.status is PackageStatus.READY, row.status
        assert row.record_count == person.total, (row.record_count, person.total)
        target = workdir / f"package-{case_id}.zip"
        with storage.reader(row.blob_id) as blob, target.open("wb") as out:
            while chunk := blob.read(1 << 20):
                out.write(chunk)
        stored = sum(p.stat().st_size for p in Path(app.config["STORAGE_DIR"]).rglob("*")
                     if row.blob_id in p.name)
        assert stored > 0, "the package's blob is not in storage"
        with target.open("rb") as handle:
            assert _sha256(handle) == (row.sha256, row.size), "the ZIP's sum or size differs"
    sizes: dict[str, int] = {"zip": target.stat().st_size, "stored": stored}
    try:
        with zipfile.ZipFile(target) as archive:
            assert archive.testzip() is None, "a ZIP member is corrupt"
            manifest = json.loads(archive.read("manifest.json"))
            listed = {f["name"]: f for f in manifest["files"]}
            names = set(archive.namelist())
            assert names == {*listed, "manifest.json"}, "the manifest does not list every file"
            for name, entry in listed.items():
                with archive.open(name) as member:
                    assert _sha256(member) == (entry["sha256"], entry["size"]), name
            sizes["export.json"] = listed["export.json"]["size"]
            sizes["csv"] = sum(e["size"] for n, e in listed.items() if n.endswith(".csv"))
            sizes["report.pdf"] = listed["report.pdf"]["size"]
            for (source, collection), count in person.counts.items():
                with archive.open(f"csv/{source}/{collection}.csv") as member:
                    lines = sum(1 for _ in io.TextIOWrapper(member, encoding="utf-8-sig",
                                                            newline=""))
                # Values hold no line break here, so one line is one row (plus the header).
                assert lines == count + 1, (source, collection, lines, count)
            if deep:
                _check_json(archive, person)
                _check_pdf(archive, reference, listed["export.json"])
    finally:
        target.unlink()
    return sizes


def _check_json(archive: zipfile.ZipFile, person: Person) -> None:
    with archive.open("export.json") as member:
        document = json.load(member)
    assert document["summary"]["records"] == person.total
    found = {(s["name"], c["name"]): len(c["records"])
             for s in document["sources"] for c in s["collections"]}
    assert found == person.counts, (found, person.counts)
    emails = {r["fields"].get("email", "").lower() for s in document["sources"]
              for c in s["collections"] for r in c["records"] if "email" in r["fields"]}
    assert emails == {person.email}, "another person's address is in the export"


def _check_pdf(archive: zipfile.ZipFile, reference: str, json_entry: dict) -> None:
    """The PDF opens, shows the reference, and carries export.json byte for byte, unless
    export.json is over the attachment limit (then it must not be attached at all)."""
    from pypdf import PdfReader

    from dsar.config import DEFAULTS

    data = archive.read("report.pdf")
    assert data.startswith(b"%PDF-"), "report.pdf is not a PDF"
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) > 0
    text = reader.pages[0].extract_text() + (reader.pages[1].extract_text()
                                             if len(reader.pages) > 1 else "")
    assert reference in text, "the case's reference is not on the report's first pages"
    attached = reader.attachments.get("export.json")
    if json_entry["size"] > DEFAULTS["PDF_ATTACHMENT_MAX_BYTES"]:
        assert not attached, "an export.json over the limit is attached to the PDF"
        return
    assert attached, "export.json is not attached to the PDF"
    assert hashlib.sha256(attached[0]).hexdigest() == json_entry["sha256"], (
        "the PDF's export.json differs from the package's")
