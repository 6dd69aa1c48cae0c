"""case retention: a closed case's personal data is removed after CASE_RETENTION_YEARS

Revision ID: 0019
Revises: 0018
``cases.purged_at`` records when the periodic purge (``dsar.cases.retention``) removed the
personal data of a case closed longer than the retention period ago, keeping its dates, its
decisions and the audit trail. Existing cases are not purged (NULL): the next run decides.

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purged_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    # The data the purge removed cannot come back: only the mark goes.
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('purged_at')
