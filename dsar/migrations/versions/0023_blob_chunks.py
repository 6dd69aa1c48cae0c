"""blobs in the database, for a deployment on several machines

Revision ID: 0023
Revises: 0022
``STORAGE_URL = "database:"`` keeps the encrypted blobs (identity documents, search results,
answer packages) in ``blob_chunks`` rather than in a local folder, so every web server and
worker reaches them without a shared disk (docs/storage.md). The rows hold ciphertext only.

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'blob_chunks',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('name', 'seq', name=op.f('pk_blob_chunks')),
    )
    if op.get_bind().dialect.name == 'postgresql':
        # Ciphertext does not compress: store it out of line without trying (pglz would spend
        # CPU on every row for nothing).
        op.execute("ALTER TABLE blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade():
    op.drop_table('blob_chunks')
