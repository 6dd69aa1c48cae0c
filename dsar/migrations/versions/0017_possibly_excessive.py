"""possibly excessive: a request past the per-address daily count is filed and flagged

Revision ID: 0017
Revises: 0016
The portal no longer refuses the sixth request of an address in a day: the case is filed and
``cases.possibly_excessive`` set, for the DPO to judge (Art. 12(5)). Existing cases are not
flagged (the refused requests were never filed). A partial index serves the dashboard's filter.

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

INDEX = 'ix_cases_excessive_due_on_id'
#: As ``dsar.models.case.EXCESSIVE_SQL`` at this revision: SQLite uses a partial index only when
#: the query repeats its WHERE term, which SQLAlchemy writes differently per dialect.
SQLITE_WHERE = "possibly_excessive IS 1"
POSTGRESQL_WHERE = "possibly_excessive IS true"


def upgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('possibly_excessive', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(INDEX, ['due_on', 'id'], unique=False,
                              sqlite_where=sa.text(SQLITE_WHERE),
                              postgresql_where=sa.text(POSTGRESQL_WHERE))


def downgrade():
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(INDEX)
        batch_op.drop_column('possibly_excessive')
