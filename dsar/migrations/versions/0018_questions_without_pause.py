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
    # Each question asked without a pause gets a pause of its own of no day (so that every row
    # names one, and none is linked to another question's pause), dated the day it was asked.
    bind = op.get_bind()
    day = "date(asked_at)" if bind.dialect.name == "sqlite" else "CAST(asked_at AS DATE)"
    rows = bind.execute(sa.text(
        f"SELECT id, case_id, {day} FROM info_requests WHERE pause_id IS NULL")).all()  # noqa: S608 (a constant)
    for question_id, case_id, asked_on in rows:
        pause_id = bind.execute(sa.text(
            "INSERT INTO clock_pauses (case_id, started_on, ended_on, reason) "
            "VALUES (:case_id, :day, :day, 'info_request') RETURNING id"),
            {"case_id": case_id, "day": asked_on}).scalar_one()
        bind.execute(sa.text("UPDATE info_requests SET pause_id = :pause WHERE id = :id"),
                     {"pause": pause_id, "id": question_id})
    with op.batch_alter_table('info_requests', schema=None) as batch_op:
        batch_op.alter_column('pause_id', existing_type=sa.Integer(), nullable=False)
