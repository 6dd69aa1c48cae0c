"""The demo organisation's ``sources.toml`` and ``register.toml`` (format: docs/sources.md).

Written as commented TOML, since they are also the example a deployment starts from. Only the
two API addresses change from run to run (the demo picks free ports).
"""

from __future__ import annotations

import json
from pathlib import Path

from dsar.demo.org.api_sources import CRM_COLLECTIONS, NEWSLETTER_COLLECTIONS
from dsar.demo.org.register_text import REGISTER_TOML

#: The environment variables holding the demo APIs' secrets (the runner generates them).
CRM_TOKEN_ENV = "HORIZON_CRM_TOKEN"  # noqa: S105 -- a variable name, not a secret
NEWSLETTER_KEY_ENV = "HORIZON_NEWSLETTER_API_KEY"

SOURCES_TOML = """\
# The data sources of the demo organisation, Académie Horizon Formation (written by `dsar demo`).
# Format: docs/sources.md. {instance} is replaced by the instance folder's path.
#
# `provided` marks what a portability answer (GDPR Art. 20) hands over: the data the person
# gave us (forms, messages, choices) and the data their own use of our services records
# (logins, attendance, pages seen, newsletter opens): "observed" data, provided too in the
# EDPB's reading (WP242 rev.01). Not provided: identifiers and statuses we assign, what we
# write about the person (notes, invoices), what we compute or infer (test scores, a country
# from an IP address). And only in sources used on consent or contract (Art. 20(1)(a)): the
# CRM and the web server logs rest on our legitimate interests, so nothing there is marked.
# `third_party` lists fields that may hold other people's data: their text is scanned for
# e-mail addresses and phone numbers that are not the person's, as free text always is.

# 1. The training platform's own database.
[sources.platform]
kind = "sql"
label = "Plateforme de formation"
label_en = "Training platform"
url = "sqlite:///{instance}/demo-org/platform.sqlite"

[sources.platform.collections.accounts]
label = "Compte d'apprenant"
label_en = "Learner account"
match = { email = "email" }
yields = { customer_id = "id", visitor_id = "visitor_id" }
exclude = ["password_hash"]
erasure = "anonymize"
provided = ["email", "first_name", "last_name", "birth_date", "phone", "address", "postal_code",
            "city", "profession", "employer", "bio", "created_at", "last_login_at"]
# A restriction of processing (GDPR Art. 18): the platform keeps the account but its staff
# and scripts leave it alone while the flag is set.
operations.restrict = { set = { processing_restricted = 1 } }
operations.lift_restriction = { set = { processing_restricted = 0 } }
[sources.platform.collections.accounts.anonymize]
email = "hash"
first_name = "fixed:[supprimé]"
last_name = "fixed:[supprimé]"
birth_date = "null"
phone = "null"
address = "null"
postal_code = "null"
city = "null"
profession = "null"
employer = "null"
bio = "null"
visitor_id = "null"
password_hash = "fixed:!"
last_login_at = "null"
[sources.platform.collections.accounts.fields]
id = "identification"
email = "contact"
first_name = "identification"
last_name = "identification"
birth_date = "identification"
phone = "contact"
address = "contact"
postal_code = "contact"
city = "contact"
profession = "professional"
employer = "professional"
bio = "free_text"
visitor_id = "navigation"
password_hash = "authentication"
created_at = "identification"
last_login_at = "connection"
processing_restricted = "account_status"
# The fields in words, in the answer's PDF and on the back office (the name when none).
[sources.platform.collections.accounts.field_labels]
email = "Adresse électronique"
first_name = "Prénom"
last_name = "Nom"
birth_date = "Date de naissance"
phone = "Téléphone"
address = "Adresse"
postal_code = "Code postal"
city = "Ville"
profession = "Profession"
employer = "Employeur"
bio = "Présentation"
created_at = "Compte créé le"
last_login_at = "Dernière connexion"
[sources.platform.collections.accounts.field_labels_en]
email = "E-mail address"
first_name = "First name"
last_name = "Last name"
birth_date = "Date of birth"
phone = "Telephone"
address = "Address"
postal_code = "Postcode"
city = "City"
profession = "Profession"
employer = "Employer"
bio = "About me"
created_at = "Account created on"
last_login_at = "Last sign-in"

[sources.platform.collections.enrolments]
label = "Inscriptions aux formations"
label_en = "Course enrolments"
follow = { account_id = "accounts.id" }
provided = ["course_code", "course_title", "funding"]  # the person's choices; status is ours
erasure = "retain"
retain_basis = "Preuve de la réalisation des formations financées (CPF, OPCO, employeur), \
exigée lors des contrôles des financeurs"
retain_until = "5 ans après la fin de la formation"
[sources.platform.collections.enrolments.fields]
id = "training"
account_id = "identification"
course_code = "training"
course_title = "training"
hours = "training"
started_on = "training"
status = "training"
funding = "financial"

# No `follow`: the connector follows the database's own foreign key to enrolments.
[sources.platform.collections.attendance]
label = "Présence aux cours"
label_en = "Attendance"
provided = ["session_date", "mode", "duration_minutes", "signed"]  # observed
erasure = "retain"
retain_basis = "Feuilles d'émargement : preuve de l'assiduité exigée par les financeurs \
(CPF, OPCO, employeur)"
retain_until = "5 ans après la fin de la formation"
[sources.platform.collections.attendance.fields]
id = "training"
enrolment_id = "training"
session_date = "training"
mode = "training"
duration_minutes = "training"
signed = "training"

# Not provided: scores and levels are the results of our assessment.
[sources.platform.collections.level_tests]
label = "Tests de niveau"
label_en = "Level tests"
follow = { account_id = "accounts.id" }
erasure = "delete"
[sources.platform.collections.level_tests.fields]
id = "test_results"
account_id = "identification"
taken_on = "test_results"
subject = "test_results"
score = "test_results"
level = "test_results"

[sources.platform.collections.invoices]
label = "Factures"
label_en = "Invoices"
follow = { account_id = "accounts.id" }
# An issued invoice is never altered: a correction (of the name billed, say) is kept as a
# supplementary statement instead (GDPR Art. 16).
read_only = true
erasure = "retain"
retain_basis = "Obligation légale de conservation des pièces comptables \
(Code de commerce, art. L123-22)"
retain_until = "10 ans après la clôture de l'exercice"
[sources.platform.collections.invoices.fields]
id = "financial"
account_id = "identification"
enrolment_id = "training"
number = "financial"
issued_on = "financial"
billed_to = "financial"
amount_eur = "financial"
paid = "financial"
payment_method = "financial"

# 2. The CRM (Zoho-like API). Its e-mail search is fuzzy ("contains"): the connector keeps
# only exact matches. `operations`: how erasure deletes or anonymises one record ({key}).
[sources.crm]
kind = "http"
label = "Gestion de la relation client (CRM)"
label_en = "Customer relationship management (CRM)"
base_url = @CRM_URL@
auth = { type = "bearer", token_env = "HORIZON_CRM_TOKEN" }
timeout = 10
retries = 2
@CRM_COLLECTIONS@
# 3. The newsletter provider (Sendinblue/Brevo-like API).
[sources.newsletter]
kind = "http"
label = "Lettre d'information"
label_en = "Newsletter"
base_url = @NEWSLETTER_URL@
auth = { type = "header", header = "api-key", token_env = "HORIZON_NEWSLETTER_API_KEY" }
timeout = 10
retries = 2
@NEWSLETTER_COLLECTIONS@
# 4. Audience measurement export (visitors who accepted the cookie).
[sources.analytics]
kind = "files"
label = "Mesure d'audience"
label_en = "Audience measurement"

[sources.analytics.collections.events]
label = "Mesure d'audience"
label_en = "Audience measurement"
paths = ["{instance}/demo-org/analytics/events-*.jsonl"]
format = "jsonl"
match = { visitor_id = "visitor_id" }
erasure = "delete"
# Observed; not the ids we assign, nor the country inferred from the IP address.
provided = ["ts", "event", "url", "page_title", "referrer", "device", "browser"]
[sources.analytics.collections.events.fields]
ts = "navigation"
visitor_id = "navigation"
session_id = "navigation"
event = "navigation"
url = "navigation"
page_title = "navigation"
referrer = "navigation"
device = "navigation"
browser = "navigation"
country = "navigation"

# 5. The web server's access logs. The IP address is data, never an identifier: colleagues
# share their employer's address.
[sources.access_logs]
kind = "files"
label = "Journaux du serveur web"
label_en = "Web server logs"

[sources.access_logs.collections.requests]
label = "Journaux de connexion"
label_en = "Access logs"
paths = ["{instance}/demo-org/logs/access.log*"]
format = "access_log"
log_format = "combined_visitor"
match = { visitor_id = "visitor_id" }
erasure = "delete"
[sources.access_logs.collections.requests.fields]
ip = "connection"
ident = "connection"
user = "connection"
time = "connection"
request = "navigation"
status = "connection"
size = "connection"
referrer = "navigation"
user_agent = "connection"
visitor_id = "navigation"

# 6. The helpdesk's CSV export.
[sources.support]
kind = "files"
label = "Service client"
label_en = "Customer support"

[sources.support.collections.tickets]
label = "Demandes au support"
label_en = "Support tickets"
paths = ["{instance}/demo-org/support/tickets.csv"]
format = "csv"
match = { email = "requester_email", customer_id = "customer_id" }
erasure = "anonymize"
anonymize = { requester_email = "hash", customer_id = "null", body = "fixed:[supprimé]" }
provided = ["opened_at", "requester_email", "subject", "body"]
# People write anything in a subject line (the body is free text, scanned anyway).
third_party = ["subject"]
[sources.support.collections.tickets.fields]
ticket_id = "correspondence"
opened_at = "correspondence"
requester_email = "contact"
customer_id = "identification"
subject = "correspondence"
body = "free_text"
status = "correspondence"
agent = "correspondence"
"""

def sources_toml(crm_url: str, newsletter_url: str) -> str:
    """The text of ``sources.toml`` for APIs at these addresses."""
    return (SOURCES_TOML
            .replace("@CRM_COLLECTIONS@", CRM_COLLECTIONS)
            .replace("@NEWSLETTER_COLLECTIONS@", NEWSLETTER_COLLECTIONS)
            # json.dumps quotes a URL the way TOML reads it back (basic string).
            .replace("@CRM_URL@", json.dumps(crm_url))
            .replace("@NEWSLETTER_URL@", json.dumps(newsletter_url)))


def write_config(instance_dir: Path, *, crm_url: str, newsletter_url: str) -> None:
    """Write ``instance_dir/sources.toml`` and ``instance_dir/register.toml`` for the demo
    organisation whose data is in ``instance_dir/demo-org``."""
    instance = Path(instance_dir)
    instance.mkdir(parents=True, exist_ok=True)
    (instance / "sources.toml").write_text(sources_toml(crm_url, newsletter_url),
                                           encoding="utf-8")
    (instance / "register.toml").write_text(REGISTER_TOML, encoding="utf-8")
