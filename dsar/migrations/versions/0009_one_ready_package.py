"""one ready package per case

Revision ID: 0009
Revises: 0008
Two package builds of one case racing could both land. A partial unique index now allows one
``ready`` package per case. An expired package now keeps no blob id once its file is deleted
(the builds deleted the file of the package they replaced, but kept its id); the extra ready
packages are marked expired with their blob id, so the package purge deletes their files.

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

INDEX = "uq_export_packages_one_ready"
WHERE = sa.text("status = 'ready'")


def upgrade():
    op.execute(sa.text("UPDATE export_packages SET blob_id = NULL WHERE status = 'expired'"))
    op.execute(sa.text(
        "UPDATE export_packages SET status = 'expired', expired_at = CURRENT_TIMESTAMP "
        "WHERE status = 'ready' AND id NOT IN (SELECT MAX(id) FROM export_packages "
        "WHERE status = 'ready' GROUP BY case_id)"))
    op.create_index(INDEX, "export_packages", ["case_id"], unique=True,
                    sqlite_where=WHERE, postgresql_where=WHERE)


def downgrade():
    op.drop_index(INDEX, table_name="export_packages")
