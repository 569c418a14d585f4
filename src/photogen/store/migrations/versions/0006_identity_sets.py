"""identity sets: named groups of uploads of one person or product, and their members with history

Adds two tables and changes no existing row. A member row stays after its upload leaves the set (removed_at,
removed_by, removed_reason), so a set's history survives the upload's deletion.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('identity_sets',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('identity_sets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identity_sets_owner'), ['owner'], unique=False)
    op.create_table('identity_set_members',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('set_id', sa.String(length=32), nullable=False),
    sa.Column('upload_id', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('measures', sa.JSON(), nullable=True),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('added_by', sa.String(length=200), nullable=False),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('removed_by', sa.String(length=200), nullable=True),
    sa.Column('removed_reason', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['set_id'], ['identity_sets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('identity_set_members', schema=None) as batch_op:
        batch_op.create_index('ix_identity_set_members_set_position', ['set_id', 'position'], unique=False)
        batch_op.create_index(batch_op.f('ix_identity_set_members_upload_id'), ['upload_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('identity_set_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_set_members_upload_id'))
        batch_op.drop_index('ix_identity_set_members_set_position')
    op.drop_table('identity_set_members')
    with op.batch_alter_table('identity_sets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_sets_owner'))
    op.drop_table('identity_sets')
