"""rights carried out: rectification, restriction, objection

Revision ID: 0014
Revises: 0013
A plan gains a rectification's sealed corrections (``items_sealed``), an objection's decisions
per processing (``decisions``) and a restriction's lift (announced, then done on its date);
the restriction register (``restriction_entries``) and the supplementary statements
(``supplementary_statements``) hold keyed hashes of the person's address, never the address; a
package may be the answer letter of each of the three kinds; the e-mail announcing a lift.
Vocabularies written out, as at this revision.

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

OLD_TEMPLATES = ("confirm_email", "acknowledgement", "withdrawn", "expired", "info_request",
                 "extended", "rejected", "partially_refused", "staff_reminder", "overdue_digest",
                 "package_ready", "download_code", "staff_setup", "staff_role_notice",
                 "links_renewed", "recipient_notice", "change_under_way")
NEW_TEMPLATES = OLD_TEMPLATES + ("restriction_lift_notice",)
TEMPLATE_CHECK = "ck_outbound_emails_mail_template"
OLD_SCOPES = ('access', 'portability', 'erasure')
NEW_SCOPES = OLD_SCOPES + ('rectification', 'restriction', 'objection')
SCOPE_CHECK = "ck_export_packages_package_scope"


def _check(column, values):
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade():
    with op.batch_alter_table('change_plans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('items_sealed', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('decisions', sa.JSON(), nullable=False,
                                      server_default='{}'))
        batch_op.add_column(sa.Column('lift_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('lift_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('lift_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('lift_announced_at', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('lifted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('lift_outcome', sa.JSON(), nullable=False,
                                      server_default='{}'))
        batch_op.create_foreign_key(batch_op.f('fk_change_plans_lift_by_id_staff_users'),
                                    'staff_users', ['lift_by_id'], ['id'])
    op.create_table(
        'restriction_entries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.Enum('email', 'phone', name='restriction_kind', native_enum=False,
                                  create_constraint=True, length=32), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('lifted_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'],
                                name=op.f('fk_restriction_entries_case_id_cases'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_restriction_entries')),
        sa.UniqueConstraint('kind', 'digest', 'case_id',
                            name=op.f('uq_restriction_entries_kind')),
    )
    with op.batch_alter_table('restriction_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_restriction_entries_case_id'), ['case_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_restriction_entries_digest'), ['digest'],
                              unique=False)
    op.create_table(
        'supplementary_statements',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('email_digest', sa.String(length=64), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.Column('source', sa.String(length=40), nullable=False),
        sa.Column('collection', sa.String(length=80), nullable=False),
        sa.Column('statement_sealed', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'],
                                name=op.f('fk_supplementary_statements_case_id_cases'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_supplementary_statements')),
    )
    with op.batch_alter_table('supplementary_statements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supplementary_statements_case_id'), ['case_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_supplementary_statements_email_digest'),
                              ['email_digest'], unique=False)
    with op.batch_alter_table('outbound_emails', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(TEMPLATE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(TEMPLATE_CHECK), _check('template', NEW_TEMPLATES))
    with op.batch_alter_table('export_packages', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(SCOPE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(SCOPE_CHECK), _check('scope', NEW_SCOPES))


def downgrade():
    with op.batch_alter_table('export_packages', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(SCOPE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(SCOPE_CHECK), _check('scope', OLD_SCOPES))
    with op.batch_alter_table('outbound_emails', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(TEMPLATE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(TEMPLATE_CHECK), _check('template', OLD_TEMPLATES))
    for table, indexes in (('supplementary_statements', ('case_id', 'email_digest')),
                           ('restriction_entries', ('case_id', 'digest'))):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in indexes:
                batch_op.drop_index(batch_op.f(f'ix_{table}_{column}'))
        op.drop_table(table)
    with op.batch_alter_table('change_plans', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_change_plans_lift_by_id_staff_users'),
                                 type_='foreignkey')
        for column in ('lift_outcome', 'lifted_at', 'lift_announced_at', 'lift_by_id',
                       'lift_reason', 'lift_on', 'decisions', 'items_sealed'):
            batch_op.drop_column(column)
