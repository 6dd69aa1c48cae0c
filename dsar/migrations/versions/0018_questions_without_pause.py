"""a question to the requester pauses the clock only for a doubt about identity

Revision ID: 0018
Revises: 0017
``info_requests.pause_id`` becomes optional: a question about the scope of a request, or to
clarify it, leaves the clock running (docs/legal-rules.md D8); only a reasonable doubt about
the requester's identity, recorded with its reason, opens a pause.

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('info_requests', schema=None) as batch_op:
        batch_op.alter_column('pause_id', existing_type=sa.Integer(), nullable=True)


def downgrade():
    # Questions asked without a pause get a pause of no day, so that every row names one.
    op.execute("INSERT INTO clock_pauses (case_id, started_on, ended_on, reason) "
               "SELECT case_id, CAST(asked_at AS DATE), CAST(asked_at AS DATE), 'info_request' "
               "FROM info_requests WHERE pause_id IS NULL")
    op.execute("UPDATE info_requests SET pause_id = (SELECT max(p.id) FROM clock_pauses p "
               "WHERE p.case_id = info_requests.case_id) WHERE pause_id IS NULL")
    with op.batch_alter_table('info_requests', schema=None) as batch_op:
        batch_op.alter_column('pause_id', existing_type=sa.Integer(), nullable=False)
