"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22 04:24:11.541190

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():

    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('last_event_id', sa.Integer(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    op.create_table('cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.Enum('access', 'portability', 'rectification', 'erasure', 'restriction', 'objection', 'postmortem_directive', 'postmortem_execution', name='case_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('status', sa.Enum('submitted', 'confirmed', 'needs_info', 'verified', 'in_progress', 'review', 'completed', 'rejected', 'withdrawn', 'expired', name='case_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('channel', sa.Enum('portal', 'email', 'post', 'phone', 'api', name='case_channel', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('requester_name', sa.String(length=200), nullable=False),
    sa.Column('requester_email', sa.String(length=254), nullable=False),
    sa.Column('email_normalized', sa.String(length=254), nullable=False),
    sa.Column('representative_name', sa.String(length=200), nullable=True),
    sa.Column('identifiers', sa.JSON(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('calendar', sa.String(length=24), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('extended', sa.Boolean(), nullable=False),
    sa.Column('extension_reason', sa.Text(), nullable=True),
    sa.Column('extended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('token_salt', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases')),
    sa.UniqueConstraint('reference', name=op.f('uq_cases_reference'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_email_received', ['email_normalized', 'received_at'], unique=False)
        batch_op.create_index('ix_cases_status_due_on', ['status', 'due_on'], unique=False)

    op.create_table('staff_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.Enum('agent', 'dpo', 'auditor', 'admin', name='staff_role', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('totp_secret_encrypted', sa.String(length=255), nullable=True),
    sa.Column('is_active_account', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_users')),
    sa.UniqueConstraint('email', name=op.f('uq_staff_users_email'))
    )
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('actor_type', sa.Enum('requester', 'staff', 'worker', 'system', name='actor_type', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('row_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_audit_events_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')),
    sa.UniqueConstraint('prev_hash', name=op.f('uq_audit_events_prev_hash')),
    sa.UniqueConstraint('row_hash', name=op.f('uq_audit_events_row_hash'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_case_id'), ['case_id'], unique=False)

    op.create_table('clock_pauses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('started_on', sa.Date(), nullable=False),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_clock_pauses_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clock_pauses'))
    )
    with op.batch_alter_table('clock_pauses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clock_pauses_case_id'), ['case_id'], unique=False)

    op.create_table('identity_proofs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('identity', 'mandate', 'death_certificate', 'heir_status', 'other', name='proof_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('blob_id', sa.String(length=64), nullable=True),
    sa.Column('content_type', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_identity_proofs_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_proofs')),
    sa.UniqueConstraint('blob_id', name=op.f('uq_identity_proofs_blob_id'))
    )
    with op.batch_alter_table('identity_proofs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identity_proofs_case_id'), ['case_id'], unique=False)

    op.create_table('outbound_emails',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('template', sa.Enum('confirm_email', 'acknowledgement', 'withdrawn', 'expired', name='mail_template', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('status', sa.Enum('pending', 'sent', 'failed', name='mail_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=120), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_outbound_emails_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbound_emails'))
    )
    with op.batch_alter_table('outbound_emails', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbound_emails_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbound_emails_status'), ['status'], unique=False)




def downgrade():

    with op.batch_alter_table('outbound_emails', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbound_emails_status'))
        batch_op.drop_index(batch_op.f('ix_outbound_emails_case_id'))

    op.drop_table('outbound_emails')
    with op.batch_alter_table('identity_proofs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_proofs_case_id'))

    op.drop_table('identity_proofs')
    with op.batch_alter_table('clock_pauses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clock_pauses_case_id'))

    op.drop_table('clock_pauses')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_case_id'))

    op.drop_table('audit_events')
    op.drop_table('staff_users')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_status_due_on')
        batch_op.drop_index('ix_cases_email_received')

    op.drop_table('cases')
    op.drop_table('audit_head')

