"""vocabulary checks

Revision ID: 0008
Revises: 0007
Every closed vocabulary checked by the database: a case's holiday calendar and a package's
scope get a CHECK (the enum columns had one since they were created), and a question's resume
status is narrowed to the statuses the state machine leaves ``needs_info`` for.

The values come from the code (``dsar.deadlines.CALENDARS``, ``PackageScope``,
``INFO_RESUME_STATUSES``), built by the helper the models use, so the list is written once.
A later migration that changes one of these lists replaces the CHECK, as 0007 does.

"""
import sqlalchemy as sa
from alembic import op

from dsar.deadlines import CALENDARS
from dsar.models.checks import in_list_sql
from dsar.models.enums import INFO_RESUME_STATUSES, CaseStatus
from dsar.models.package import PackageScope

#: (table, constraint, column, values) added by this revision.
ADDED = (
    ("cases", "ck_cases_case_calendar", "calendar", tuple(CALENDARS)),
    ("export_packages", "ck_export_packages_package_scope", "scope", tuple(PackageScope)),
)
RESUME_CHECK = "ck_info_requests_resume_status"

# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def _refuse_unknown_values(table: str, column: str, values: tuple[str, ...]) -> None:
    """Stop with a clear message (counts, no content) if a row holds a value the CHECK would
    refuse: the data is fixed by hand, never guessed here."""
    field = sa.column(column)
    count = op.get_bind().scalar(sa.select(sa.func.count()).select_from(sa.table(table, field))
                                 .where(field.not_in(values)))
    if count:
        raise RuntimeError(f"{count} row(s) of {table} have a {column} outside "
                           f"{', '.join(values)}: correct them, then upgrade again")


def upgrade():
    resumable = tuple(INFO_RESUME_STATUSES)
    for table, _name, column, values in ADDED:
        _refuse_unknown_values(table, column, values)
    _refuse_unknown_values("info_requests", "resume_status", resumable)

    for table, name, column, values in ADDED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_check_constraint(op.f(name), in_list_sql(column, values))

    with op.batch_alter_table('info_requests', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(RESUME_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(RESUME_CHECK),
                                         in_list_sql('resume_status', resumable))


def downgrade():
    with op.batch_alter_table('info_requests', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(RESUME_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(RESUME_CHECK),
                                         in_list_sql('resume_status', tuple(CaseStatus)))

    for table, name, _column, _values in reversed(ADDED):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(name), type_='check')
