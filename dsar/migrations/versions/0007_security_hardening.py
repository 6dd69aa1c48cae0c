"""security hardening

Revision ID: 0007
Revises: 0006
Staff session generations and password dates, a signed audit-chain head, and three more
e-mails (a new account's setup link, the notice of a DPO or administrator account to every DPO,
a requester's renewed links).

"""
import sqlalchemy as sa
from alembic import op

OLD_TEMPLATES = ("confirm_email", "acknowledgement", "withdrawn", "expired", "info_request",
                 "extended", "rejected", "partially_refused", "staff_reminder", "overdue_digest",
                 "package_ready", "download_code")
NEW_TEMPLATES = OLD_TEMPLATES + ("staff_setup", "staff_role_notice", "links_renewed")
TEMPLATE_CHECK = "ck_outbound_emails_mail_template"


def _check(column, values):
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_generation', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('password_changed_at', sa.DateTime(timezone=True),
                                      nullable=True))

    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signature', sa.String(length=64), nullable=True))

    with op.batch_alter_table('outbound_emails', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(TEMPLATE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(TEMPLATE_CHECK), _check('template', NEW_TEMPLATES))


def downgrade():
    with op.batch_alter_table('outbound_emails', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(TEMPLATE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(TEMPLATE_CHECK), _check('template', OLD_TEMPLATES))

    with op.batch_alter_table('audit_head', schema=None) as batch_op:
        batch_op.drop_column('signature')

    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_column('password_changed_at')
        batch_op.drop_column('session_generation')
