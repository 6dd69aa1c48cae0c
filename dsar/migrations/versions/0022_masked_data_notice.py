"""the notice that an answer masks other people's data, sent when it is decided

Revision ID: 0022
Revises: 0021
The e-mail template ``masked_data_notice``: a partial refusal (Art. 15(4), 20(4)) is notified
when the answer is built, not at its release (Art. 12(4)). Vocabularies written out, as at
this revision.

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

OLD_TEMPLATES = ("confirm_email", "acknowledgement", "withdrawn", "expired", "info_request",
                 "extended", "rejected", "partially_refused", "staff_reminder", "overdue_digest",
                 "package_ready", "download_code", "staff_setup", "staff_role_notice",
                 "links_renewed", "recipient_notice", "change_under_way",
                 "restriction_lift_notice", "directives_changed")
NEW_TEMPLATES = OLD_TEMPLATES + ("masked_data_notice",)
TEMPLATE_CHECK = "ck_outbound_emails_mail_template"


def _check(column, values):
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade():
    with op.batch_alter_table('outbound_emails', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(TEMPLATE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(TEMPLATE_CHECK), _check('template', NEW_TEMPLATES))


def downgrade():
    op.execute("DELETE FROM outbound_emails WHERE template = 'masked_data_notice'")
    with op.batch_alter_table('outbound_emails', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(TEMPLATE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(TEMPLATE_CHECK), _check('template', OLD_TEMPLATES))
