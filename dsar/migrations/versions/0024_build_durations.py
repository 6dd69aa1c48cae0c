"""how long each answer package took to build, and indexes for the metrics' 24-hour window

Revision ID: 0024
Revises: 0023
``export_packages.build_seconds`` feeds the build durations of /metrics (docs/metrics.md); the
searches and builds of the last day are found by ``source_results.finished_at`` and
``export_packages.created_at`` without reading every row.

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('export_packages') as batch:
        batch.add_column(sa.Column('build_seconds', sa.Float(), nullable=True))
    op.create_index(op.f('ix_export_packages_created_at'), 'export_packages', ['created_at'])
    op.create_index(op.f('ix_source_results_finished_at'), 'source_results', ['finished_at'])


def downgrade():
    op.drop_index(op.f('ix_source_results_finished_at'), table_name='source_results')
    op.drop_index(op.f('ix_export_packages_created_at'), table_name='export_packages')
    with op.batch_alter_table('export_packages') as batch:
        batch.drop_column('build_seconds')
