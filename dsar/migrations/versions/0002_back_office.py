"""back office

Revision ID: 0002
Revises: 0001
Back office: assignee, duplicates, identity decision, refusals, notes, questions to the
requester, staff TOTP state, staff e-mails.

"""
import sqlalchemy as sa
from alembic import op

OLD_TEMPLATES = ("confirm_email", "acknowledgement", "withdrawn", "expired")
NEW_TEMPLATES = OLD_TEMPLATES + ("info_request", "extended", "rejected", "partially_refused",
                                 "staff_reminder", "overdue_digest")
TEMPLATE_CHECK = "ck_outbound_emails_mail_template"


def _template_check(values):
    return "template IN (" + ", ".join(f"'{v}'" for v in values) + ")"


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('case_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['staff_users.id'], name=op.f('fk_case_notes_author_id_staff_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_notes_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_notes'))
    )
    with op.batch_alter_table('case_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_notes_case_id'), ['case_id'], unique=False)

    op.create_table('info_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('asked_by_id', sa.Integer(), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('asked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resume_status', sa.Enum('submitted', 'confirmed', 'needs_info', 'verified', 'in_progress', 'review', 'completed', 'rejected', 'withdrawn', 'expired', name='resume_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('pause_id', sa.Integer(), nullable=False),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answer_proof_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['answer_proof_id'], ['identity_proofs.id'], name=op.f('fk_info_requests_answer_proof_id_identity_proofs')),
    sa.ForeignKeyConstraint(['asked_by_id'], ['staff_users.id'], name=op.f('fk_info_requests_asked_by_id_staff_users')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_info_requests_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pause_id'], ['clock_pauses.id'], name=op.f('fk_info_requests_pause_id_clock_pauses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_info_requests'))
    )
    with op.batch_alter_table('info_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_info_requests_case_id'), ['case_id'], unique=False)

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assignee_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('duplicate_of_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('identity_verified_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('identity_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('manifestly_unfounded', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('unfounded_justification', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('refusal_reasons', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('partial_refusal_reasons', sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f('ix_cases_assignee_id'), ['assignee_id'], unique=False)
        batch_op.create_index('ix_cases_due_on_id', ['due_on', 'id'], unique=False)
        batch_op.create_index('ix_cases_kind_due_on', ['kind', 'due_on'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_cases_duplicate_of_id_cases'), 'cases', ['duplicate_of_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_cases_assignee_id_staff_users'), 'staff_users', ['assignee_id'], ['id'])

    with op.batch_alter_table('outbound_emails', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recipient_staff_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('payload', sa.JSON(), nullable=False,
                                      server_default=sa.text("'{}'")))
        batch_op.alter_column('case_id',
               existing_type=sa.INTEGER(),
               nullable=True)
        batch_op.create_foreign_key(batch_op.f('fk_outbound_emails_recipient_staff_id_staff_users'), 'staff_users', ['recipient_staff_id'], ['id'])
        # Autogenerate does not see a widened enum: replace its CHECK constraint by hand.
        batch_op.drop_constraint(op.f(TEMPLATE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(TEMPLATE_CHECK), _template_check(NEW_TEMPLATES))

    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_confirmed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('totp_last_step', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True))



def downgrade():
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_column('last_login_at')
        batch_op.drop_column('totp_last_step')
        batch_op.drop_column('totp_confirmed_at')

    with op.batch_alter_table('outbound_emails', schema=None) as batch_op:
        batch_op.drop_constraint(op.f(TEMPLATE_CHECK), type_='check')
        batch_op.create_check_constraint(op.f(TEMPLATE_CHECK), _template_check(OLD_TEMPLATES))
        batch_op.drop_constraint(batch_op.f('fk_outbound_emails_recipient_staff_id_staff_users'), type_='foreignkey')
        batch_op.alter_column('case_id',
               existing_type=sa.INTEGER(),
               nullable=False)
        batch_op.drop_column('payload')
        batch_op.drop_column('recipient_staff_id')

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_cases_assignee_id_staff_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_cases_duplicate_of_id_cases'), type_='foreignkey')
        batch_op.drop_index('ix_cases_kind_due_on')
        batch_op.drop_index('ix_cases_due_on_id')
        batch_op.drop_index(batch_op.f('ix_cases_assignee_id'))
        batch_op.drop_column('partial_refusal_reasons')
        batch_op.drop_column('refusal_reasons')
        batch_op.drop_column('unfounded_justification')
        batch_op.drop_column('manifestly_unfounded')
        batch_op.drop_column('identity_note')
        batch_op.drop_column('identity_verified_at')
        batch_op.drop_column('duplicate_of_id')
        batch_op.drop_column('assignee_id')

    with op.batch_alter_table('info_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_info_requests_case_id'))

    op.drop_table('info_requests')
    with op.batch_alter_table('case_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_notes_case_id'))

    op.drop_table('case_notes')
