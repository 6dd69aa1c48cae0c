"""every channel: requests received in person, and the evidence of a date of receipt

Revision ID: 0021
Revises: 0020
Staff file requests received by e-mail, post, telephone or in person (docs/channels.md): a
case's channel may be ``in_person``; a proof may be the ``evidence`` of the date the request
was received (the e-mail as .eml, a scan of the letter). Vocabularies written out, as at this
revision.

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

OLD_CHANNELS = ('portal', 'email', 'post', 'phone', 'api')
NEW_CHANNELS = OLD_CHANNELS + ('in_person',)
CHANNEL_CHECK = "ck_cases_case_channel"
OLD_PROOF_KINDS = ('identity', 'mandate', 'death_certificate', 'heir_status', 'other')
NEW_PROOF_KINDS = OLD_PROOF_KINDS + ('evidence',)
PROOF_KIND_CHECK = "ck_identity_proofs_proof_kind"


def _check(column, values):
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _replace(table, name, column, values):
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(op.f(name), type_='check')
        batch_op.create_check_constraint(op.f(name), _check(column, values))


def upgrade():
    _replace('cases', CHANNEL_CHECK, 'channel', NEW_CHANNELS)
    _replace('identity_proofs', PROOF_KIND_CHECK, 'kind', NEW_PROOF_KINDS)


def downgrade():
    # A row using a new value would break the narrower check: it must be gone first.
    _replace('identity_proofs', PROOF_KIND_CHECK, 'kind', OLD_PROOF_KINDS)
    _replace('cases', CHANNEL_CHECK, 'channel', OLD_CHANNELS)
