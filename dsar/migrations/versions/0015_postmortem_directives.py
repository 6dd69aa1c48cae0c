"""post-mortem directives: every version kept, found by keyed hashes

Revision ID: 0015
Revises: 0014
Post-mortem directives (``directive_versions``, sealed; ``directive_keys``, keyed hashes of
the person's proven address); cases gain the open, off-the-clock status ``recorded`` (left out
of the dashboard's partial indexes: a standing record is no work to do); the e-mail telling the
person their directives were changed or revoked. Vocabularies written out, as
at this revision.

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

OLD_CASE_STATUSES = ('submitted', 'confirmed', 'needs_info', 'verified', 'in_progress',
                     'review', 'executing', 'verifying', 'completed', 'rejected', 'withdrawn',
                     'expired')
NEW_CASE_STATUSES = ('submitted', 'confirmed', 'needs_info', 'verified', 'in_progress',
                     'review', 'executing', 'verifying', 'recorded', 'completed', 'rejected',
                     'withdrawn', 'expired')
CASE_CHECK = "ck_cases_case_status"
OLD_TEMPLATES = ("confirm_email", "acknowledgement", "withdrawn", "expired", "info_request",
                 "extended", "rejected", "partially_refused", "staff_reminder", "overdue_digest",
                 "package_ready", "download_code", "staff_setup", "staff_role_notice",
                 "links_renewed", "recipient_notice", "change_under_way",
                 "restriction_lift_notice")
NEW_TEMPLATES = OLD_TEMPLATES + ("directives_changed",)
TEMPLATE_CHECK = "ck_outbound_emails_mail_template"
def _check(column, values):
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade():
    op.create_table(
        'directive_versions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('status', sa.Enum('in_force', 'superseded', 'revoked',
                                    name='directive_status', native_enum=False,
                                    create_constraint=True, length=32), nullable=False),
        sa.Column('content_sealed', sa.LargeBinary(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'],
                                name=op.f('fk_directive_versions_case_id_cases'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_directive_versions')),
        sa.UniqueConstraint('case_id', 'version', name=op.f('uq_directive_versions_case_id')),
    )
    with op.batch_alter_table('directive_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_directive_versions_case_id'), ['case_id'],
                              unique=False)
    op.create_table(
        'directive_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'],
                                name=op.f('fk_directive_keys_case_id_cases'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_directive_keys')),
        sa.UniqueConstraint('case_id', 'kind', 'digest', name=op.f('uq_directive_keys_case_id')),
    )
    with op.batch_alter_table('directive_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_directive_keys_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_directive_keys_digest'), ['digest'], unique=False)
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(CASE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(CASE_CHECK), _check('status', NEW_CASE_STATUSES))
    with op.batch_alter_table('outbound_emails', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(TEMPLATE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(TEMPLATE_CHECK), _check('template', NEW_TEMPLATES))


def downgrade():
    with op.batch_alter_table('outbound_emails', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(TEMPLATE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(TEMPLATE_CHECK), _check('template', OLD_TEMPLATES))
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(CASE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(CASE_CHECK), _check('status', OLD_CASE_STATUSES))
    for table, indexes in (('directive_keys', ('case_id', 'digest')),
                           ('directive_versions', ('case_id',))):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in indexes:
                batch_op.drop_index(batch_op.f(f'ix_{table}_{column}'))
        op.drop_table(table)
