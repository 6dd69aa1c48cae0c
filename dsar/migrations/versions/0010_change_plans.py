"""change plans: erasure carried out

Revision ID: 0010
Revises: 0009
A case of a kind that changes data gets a plan (``change_plans``) the DPO approves and one step
per source (``change_steps``) a job carries out; cases gain the statuses ``executing`` and
``verifying``; a package may be an erasure certificate (scope ``erasure``).

The vocabularies are written here, not read from the code: a migration says what the schema
was at its revision.

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

OLD_CASE_STATUSES = ('submitted', 'confirmed', 'needs_info', 'verified', 'in_progress',
                     'review', 'completed', 'rejected', 'withdrawn', 'expired')
NEW_CASE_STATUSES = ('submitted', 'confirmed', 'needs_info', 'verified', 'in_progress',
                     'review', 'executing', 'verifying', 'completed', 'rejected', 'withdrawn',
                     'expired')
OLD_SCOPES = ('access', 'portability')
NEW_SCOPES = ('access', 'portability', 'erasure')
CASE_CHECK = "ck_cases_case_status"
#: The dashboard's partial indexes cover the open cases: the two new statuses are open.
OLD_OPEN_CASES_SQL = ("status IN ('submitted', 'confirmed', 'needs_info', 'verified', "
                      "'in_progress', 'review')")
OPEN_CASES_SQL = ("status IN ('submitted', 'confirmed', 'needs_info', 'verified', "
                  "'in_progress', 'review', 'executing', 'verifying')")
OPEN_INDEXES = (('ix_cases_open_due_on_id', ['due_on', 'id']),
                ('ix_cases_open_kind_due_on_id', ['kind', 'due_on', 'id']))
SCOPE_CHECK = "ck_export_packages_package_scope"


def _check(column, values):
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _open_indexes(where: str) -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        for name, columns in OPEN_INDEXES:
            batch_op.drop_index(name)
            batch_op.create_index(name, columns, unique=False, sqlite_where=sa.text(where),
                                  postgresql_where=sa.text(where))


def upgrade():
    op.create_table(
        'change_plans',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.Enum('draft', 'approved', 'carried_out', 'verified', 'remains',
                                    name='plan_status', native_enum=False,
                                    create_constraint=True, length=32), nullable=False),
        sa.Column('exceptions', sa.JSON(), nullable=False),
        sa.Column('approved_by_id', sa.Integer(), nullable=True),
        sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('remaining', sa.JSON(), nullable=False),
        sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['approved_by_id'], ['staff_users.id'],
                                name=op.f('fk_change_plans_approved_by_id_staff_users')),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'],
                                name=op.f('fk_change_plans_case_id_cases'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_change_plans')),
        sa.UniqueConstraint('case_id', name=op.f('uq_change_plans_case_id')),
    )
    op.create_table(
        'change_steps',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('source', sa.String(length=40), nullable=False),
        sa.Column('status', sa.Enum('pending', 'running', 'done', 'failed', 'unsupported',
                                    'nothing', name='step_status', native_enum=False,
                                    create_constraint=True, length=32), nullable=False),
        sa.Column('operations_sealed', sa.LargeBinary(), nullable=True),
        sa.Column('outcome', sa.JSON(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'],
                                name=op.f('fk_change_steps_case_id_cases'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_change_steps')),
        sa.UniqueConstraint('case_id', 'source', name=op.f('uq_change_steps_case_id')),
    )
    with op.batch_alter_table('change_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_change_steps_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_change_steps_status'), ['status'], unique=False)

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(CASE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(CASE_CHECK), _check('status', NEW_CASE_STATUSES))
    _open_indexes(OPEN_CASES_SQL)
    with op.batch_alter_table('export_packages', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(SCOPE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(SCOPE_CHECK), _check('scope', NEW_SCOPES))


def downgrade():
    with op.batch_alter_table('export_packages', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(SCOPE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(SCOPE_CHECK), _check('scope', OLD_SCOPES))
    _open_indexes(OLD_OPEN_CASES_SQL)
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(CASE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(CASE_CHECK), _check('status', OLD_CASE_STATUSES))
    with op.batch_alter_table('change_steps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_change_steps_status'))
        batch_op.drop_index(batch_op.f('ix_change_steps_case_id'))
    op.drop_table('change_steps')
    op.drop_table('change_plans')
