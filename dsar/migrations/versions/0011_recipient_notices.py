"""recipient notices: Art. 19

Revision ID: 0011
Revises: 0010
The notice of an erasure to each recipient of the data (``recipient_notices``), and the e-mail
that carries it (template ``recipient_notice``). Vocabularies written out, as at this revision.

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

OLD_TEMPLATES = ("confirm_email", "acknowledgement", "withdrawn", "expired", "info_request",
                 "extended", "rejected", "partially_refused", "staff_reminder", "overdue_digest",
                 "package_ready", "download_code", "staff_setup", "staff_role_notice",
                 "links_renewed")
NEW_TEMPLATES = OLD_TEMPLATES + ("recipient_notice",)
TEMPLATE_CHECK = "ck_outbound_emails_mail_template"


def _check(column, values):
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade():
    op.create_table(
        'recipient_notices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('recipient', sa.String(length=60), nullable=False),
        sa.Column('status', sa.Enum('pending', 'notified', 'impossible', 'disproportionate',
                                    name='notice_status', native_enum=False,
                                    create_constraint=True, length=32), nullable=False),
        sa.Column('channel', sa.String(length=20), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'],
                                name=op.f('fk_recipient_notices_case_id_cases'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['decided_by_id'], ['staff_users.id'],
                                name=op.f('fk_recipient_notices_decided_by_id_staff_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recipient_notices')),
        sa.UniqueConstraint('case_id', 'recipient', name=op.f('uq_recipient_notices_case_id')),
    )
    with op.batch_alter_table('recipient_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recipient_notices_case_id'), ['case_id'],
                              unique=False)
    with op.batch_alter_table('outbound_emails', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(TEMPLATE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(TEMPLATE_CHECK), _check('template', NEW_TEMPLATES))


def downgrade():
    with op.batch_alter_table('outbound_emails', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(TEMPLATE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(TEMPLATE_CHECK), _check('template', OLD_TEMPLATES))
    with op.batch_alter_table('recipient_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recipient_notices_case_id'))
    op.drop_table('recipient_notices')
