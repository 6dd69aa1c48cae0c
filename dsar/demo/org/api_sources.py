"""The collections of the demo organisation's two HTTP sources (the CRM and the newsletter
service), as commented TOML that ``dsar.demo.org.config`` places in ``sources.toml``: what each
API collection holds, how it is searched, and the operations erasure calls (docs/erasure.md).
"""

from __future__ import annotations

_CRM_CONTACT_FIELDS = """\
id = "identification"
first_name = "identification"
last_name = "identification"
email = "contact"
phone = "contact"
company = "professional"
job_title = "professional"
city = "contact"
lead_source = "commercial"
contact_type = "commercial"
owner = "commercial"
customer_id = "identification"
created_time = "commercial"
modified_time = "commercial"
processing_restricted = "account_status"
"""

# How the CRM rectifies a contact (a PATCH of the fields that differ) and restricts its
# processing (GDPR Art. 18): a flag its users see and respect, lifted the same way.
_CRM_CONTACT_RIGHTS = """\
# Rectified field by field; a restriction of processing (Art. 18) is a flag on the contact.
operations.update = { method = "PATCH", path = "/api/v1/contacts/{key}", item = "data" }
operations.restrict = { method = "PATCH", path = "/api/v1/contacts/{key}", item = "data", \
body = { processing_restricted = true } }
operations.lift_restriction = { method = "PATCH", path = "/api/v1/contacts/{key}", \
item = "data", body = { processing_restricted = false } }
"""

CRM_COLLECTIONS = f"""
[sources.crm.collections.contacts]
label = "Fiche contact"
label_en = "Contact record"
path = "/api/v1/contacts"
params = {{ email = "{{email}}" }}
items = "data"
key = "id"
pagination = {{ type = "page", param = "page", size_param = "per_page", size = 50 }}
match = {{ email = "email" }}
yields = {{ crm_contact_id = "id", customer_id = "customer_id" }}
erasure = "delete"
operations.delete = {{ method = "DELETE", path = "/api/v1/contacts/{{key}}" }}
operations.anonymize = {{ method = "PATCH", path = "/api/v1/contacts/{{key}}", item = "data" }}
{_CRM_CONTACT_RIGHTS}[sources.crm.collections.contacts.fields]
{_CRM_CONTACT_FIELDS}
# The same contacts searched by platform customer id: finds a contact filed under a work
# address but linked to the person's account, in a later round.
[sources.crm.collections.contacts_by_customer]
label = "Fiche contact (par numéro client)"
label_en = "Contact record (by customer number)"
path = "/api/v1/contacts"
params = {{ customer_id = "{{customer_id}}" }}
items = "data"
key = "id"
pagination = {{ type = "page", param = "page", size_param = "per_page", size = 50 }}
match = {{ customer_id = "customer_id" }}
yields = {{ crm_contact_id = "id", customer_id = "customer_id" }}
erasure = "delete"
operations.delete = {{ method = "DELETE", path = "/api/v1/contacts/{{key}}" }}
operations.anonymize = {{ method = "PATCH", path = "/api/v1/contacts/{{key}}", item = "data" }}
{_CRM_CONTACT_RIGHTS}[sources.crm.collections.contacts_by_customer.fields]
{_CRM_CONTACT_FIELDS}
[sources.crm.collections.notes]
label = "Notes commerciales"
label_en = "Sales notes"
path = "/api/v1/contacts/{{crm_contact_id}}/notes"
items = "data"
key = "id"
pagination = {{ type = "page", param = "page", size_param = "per_page", size = 50 }}
match = {{ crm_contact_id = "contact_id" }}
erasure = "delete"
operations.delete = {{ method = "DELETE", path = "/api/v1/notes/{{key}}" }}
[sources.crm.collections.notes.fields]
id = "commercial"
contact_id = "identification"
title = "correspondence"
content = "free_text"
created_by = "commercial"
created_time = "correspondence"

[sources.crm.collections.deals]
label = "Opportunités commerciales"
label_en = "Sales opportunities"
path = "/api/v1/contacts/{{crm_contact_id}}/deals"
items = "data"
key = "id"
pagination = {{ type = "page", param = "page", size_param = "per_page", size = 50 }}
match = {{ crm_contact_id = "contact_id" }}
erasure = "delete"
operations.delete = {{ method = "DELETE", path = "/api/v1/deals/{{key}}" }}
[sources.crm.collections.deals.fields]
id = "commercial"
contact_id = "identification"
deal_name = "commercial"
stage = "commercial"
amount = "financial"
closing_date = "commercial"
owner = "commercial"
"""

NEWSLETTER_COLLECTIONS = """
[sources.newsletter.collections.contacts]
label = "Abonnement à la lettre d'information"
label_en = "Newsletter subscription"
path = "/v3/contacts"
params = { email = "{email}" }
items = "contacts"
key = "id"
pagination = { type = "cursor", param = "cursor", next = "next_cursor" }
match = { email = "email" }
yields = { newsletter_contact_id = "id" }
erasure = "delete"
operations.delete = { method = "DELETE", path = "/v3/contacts/{key}" }
operations.anonymize = { method = "PATCH", path = "/v3/contacts/{key}" }
operations.update = { method = "PATCH", path = "/v3/contacts/{key}" }
# An objection to direct marketing (GDPR Art. 21(2)): Brevo's own way, the address
# blacklisted for every campaign (the contact and its history stay).
operations.unsubscribe = { method = "PATCH", path = "/v3/contacts/{key}", \
body = { email_blacklisted = true } }
provided = ["email", "first_name", "last_name", "sms", "double_optin_at"]
[sources.newsletter.collections.contacts.fields]
id = "identification"
email = "contact"
first_name = "identification"
last_name = "identification"
sms = "contact"
email_blacklisted = "marketing"
optin_source = "marketing"
optin_ip = "connection"
double_optin_at = "marketing"
created_at = "marketing"
modified_at = "marketing"

[sources.newsletter.collections.list_memberships]
label = "Listes de diffusion"
label_en = "Mailing lists"
path = "/v3/contacts/{newsletter_contact_id}/lists"
items = "lists"
key = "id"
pagination = { type = "cursor", param = "cursor", next = "next_cursor" }
match = { newsletter_contact_id = "contact_id" }
erasure = "delete"
operations.delete = { method = "DELETE", path = "/v3/memberships/{key}" }
provided = ["list_name", "status", "subscribed_at"]
[sources.newsletter.collections.list_memberships.fields]
id = "marketing"
contact_id = "identification"
list_id = "marketing"
list_name = "marketing"
status = "marketing"
subscribed_at = "marketing"

[sources.newsletter.collections.email_events]
label = "Ouvertures et clics des lettres"
label_en = "Newsletter opens and clicks"
path = "/v3/contacts/{newsletter_contact_id}/events"
items = "events"
key = "id"
pagination = { type = "cursor", param = "cursor", next = "next_cursor" }
match = { newsletter_contact_id = "contact_id" }
erasure = "delete"
operations.delete = { method = "DELETE", path = "/v3/events/{key}" }
provided = ["event", "campaign", "occurred_at", "link"]  # observed (opens, clicks)
[sources.newsletter.collections.email_events.fields]
id = "marketing"
contact_id = "identification"
event = "marketing"
campaign = "marketing"
occurred_at = "marketing"
link = "marketing"
"""
