"""The demo organisation's two outside services, as small HTTP APIs over their own SQLite
files: the CRM (:func:`crm_app`, Zoho-like, bearer token, fuzzy e-mail search) and the
newsletter provider (:func:`newsletter_app`, Brevo-like, ``api-key`` header, cursor pages).

Tests start one in a thread with :func:`serve`; ``dsar demo`` runs each as a process:
``python -m dsar.demo.services crm --db instance/demo-org/crm.sqlite --port 8031`` (the secret
from ``HORIZON_CRM_TOKEN`` or ``HORIZON_NEWSLETTER_API_KEY``).
"""

from dsar.demo.services.common import serve
from dsar.demo.services.crm import crm_app
from dsar.demo.services.newsletter import newsletter_app

__all__ = ["crm_app", "newsletter_app", "serve"]
