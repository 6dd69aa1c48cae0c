"""suppression list

Revision ID: 0012
Revises: 0011
The suppression list (``suppression_entries``): a keyed hash of the e-mail address and phone
numbers of each erased person, one row per (kind, digest). Vocabulary written out, as at this
revision.

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'suppression_entries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.Enum('email', 'phone', name='suppression_kind', native_enum=False,
                                  create_constraint=True, length=32), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'],
                                name=op.f('fk_suppression_entries_case_id_cases'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_suppression_entries')),
        sa.UniqueConstraint('kind', 'digest', name=op.f('uq_suppression_entries_kind')),
    )
    with op.batch_alter_table('suppression_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_suppression_entries_case_id'), ['case_id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('suppression_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_suppression_entries_case_id'))
    op.drop_table('suppression_entries')
