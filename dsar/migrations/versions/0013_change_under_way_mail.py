"""change under way: the e-mail telling the person their erasure is being carried out

Revision ID: 0013
Revises: 0012
The e-mail template ``change_under_way`` (sent when a DPO approves an erasure's plan).
Vocabulary written out, as at this revision.

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

OLD_TEMPLATES = ("confirm_email", "acknowledgement", "withdrawn", "expired", "info_request",
                 "extended", "rejected", "partially_refused", "staff_reminder", "overdue_digest",
                 "package_ready", "download_code", "staff_setup", "staff_role_notice",
                 "links_renewed", "recipient_notice")
NEW_TEMPLATES = OLD_TEMPLATES + ("change_under_way",)
TEMPLATE_CHECK = "ck_outbound_emails_mail_template"


def _check(column, values):
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade():
    with op.batch_alter_table('outbound_emails', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(TEMPLATE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(TEMPLATE_CHECK), _check('template', NEW_TEMPLATES))


def downgrade():
    with op.batch_alter_table('outbound_emails', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(TEMPLATE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(TEMPLATE_CHECK), _check('template', OLD_TEMPLATES))
