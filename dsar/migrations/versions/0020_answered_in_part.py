"""an answer released without a source is answered in part, with its follow-up

Revision ID: 0020
Revises: 0019
Cases gain the ``missing_sources`` an answer went without (set: answered in part) and the
DPO's follow-up (note and date); a partial index lists the cases whose follow-up is still to
do.

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

TO_FOLLOW_UP = "missing_sources IS NOT NULL AND follow_up_at IS NULL"


def upgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('missing_sources', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('follow_up_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('follow_up_at', sa.DateTime(timezone=True),
                                      nullable=True))
    op.create_index('ix_cases_to_follow_up', 'cases', ['closed_at', 'id'], unique=False,
                    sqlite_where=sa.text(TO_FOLLOW_UP), postgresql_where=sa.text(TO_FOLLOW_UP))


def downgrade():
    op.drop_index('ix_cases_to_follow_up', table_name='cases')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('follow_up_at')
        batch_op.drop_column('follow_up_note')
        batch_op.drop_column('missing_sources')
