"""post-mortem execution: the deceased confirmed, the directives matched, its own answer

Revision ID: 0016
Revises: 0015
What staff confirmed of the deceased person an execution case is about (``deceased_matches``:
their identifiers sealed, the date of death, the outcome of the matching and the directives
version applied); packages gain the scope ``postmortem_execution`` (the letter and the copy
handed over). Vocabularies written out, as at this revision.

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

OLD_SCOPES = ('access', 'portability', 'erasure', 'rectification', 'restriction', 'objection')
NEW_SCOPES = OLD_SCOPES + ('postmortem_execution',)
SCOPE_CHECK = "ck_export_packages_package_scope"


def _check(column, values):
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade():
    op.create_table(
        'deceased_matches',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('identity_sealed', sa.LargeBinary(), nullable=False),
        sa.Column('date_of_death', sa.Date(), nullable=False),
        sa.Column('outcome', sa.String(length=20), nullable=False),
        sa.Column('directive_case_id', sa.Integer(), nullable=True),
        sa.Column('directive_version', sa.Integer(), nullable=True),
        sa.Column('confirmed_by_id', sa.Integer(), nullable=True),
        sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'],
                                name=op.f('fk_deceased_matches_case_id_cases'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['directive_case_id'], ['cases.id'],
                                name=op.f('fk_deceased_matches_directive_case_id_cases'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['confirmed_by_id'], ['staff_users.id'],
                                name=op.f('fk_deceased_matches_confirmed_by_id_staff_users'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_deceased_matches')),
        sa.UniqueConstraint('case_id', name=op.f('uq_deceased_matches_case_id')),
    )
    with op.batch_alter_table('export_packages', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(SCOPE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(SCOPE_CHECK), _check('scope', NEW_SCOPES))


def downgrade():
    with op.batch_alter_table('export_packages', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(SCOPE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(SCOPE_CHECK), _check('scope', OLD_SCOPES))
    op.drop_table('deceased_matches')
