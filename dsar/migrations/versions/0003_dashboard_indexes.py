"""dashboard indexes

Revision ID: 0003
Revises: 0002
Partial indexes on the open cases for the dashboard (open cases by due date, with or without a
kind); they replace ix_cases_kind_due_on.

"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

OPEN_CASES_SQL = ("status IN ('submitted', 'confirmed', 'needs_info', 'verified', "
                  "'in_progress', 'review')")


def upgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_kind_due_on')
        batch_op.create_index('ix_cases_open_due_on_id', ['due_on', 'id'], unique=False,
                              sqlite_where=sa.text(OPEN_CASES_SQL),
                              postgresql_where=sa.text(OPEN_CASES_SQL))
        batch_op.create_index('ix_cases_open_kind_due_on_id', ['kind', 'due_on', 'id'],
                              unique=False, sqlite_where=sa.text(OPEN_CASES_SQL),
                              postgresql_where=sa.text(OPEN_CASES_SQL))


def downgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_open_kind_due_on_id')
        batch_op.drop_index('ix_cases_open_due_on_id')
        batch_op.create_index('ix_cases_kind_due_on', ['kind', 'due_on'], unique=False)
