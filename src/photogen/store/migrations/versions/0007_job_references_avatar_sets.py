"""job references and avatar sets: the photos each generation drew on, and sets of generations per scenario

Adds two tables and changes no existing row. `job_references` holds, per generation with reference photos, its
source (position 0) and each reference image by upload id and SHA-256; it has no foreign key to the upload, so
the record outlives a deleted reference. `avatar_sets` holds an identity set's runs, one per scenario, and the
grid they make.

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job_references',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('job_id', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('upload_id', sa.String(length=32), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('job_id', 'position', name='uq_job_references_job_position')
    )
    with op.batch_alter_table('job_references', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_references_job_id'), ['job_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_job_references_upload_id'), ['upload_id'], unique=False)
    op.create_table('avatar_sets',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('identity_id', sa.String(length=32), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('runs', sa.JSON(), nullable=False),
    sa.Column('grid_asset_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('avatar_sets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_avatar_sets_owner'), ['owner'], unique=False)
        batch_op.create_index(batch_op.f('ix_avatar_sets_identity_id'), ['identity_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('avatar_sets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_avatar_sets_identity_id'))
        batch_op.drop_index(batch_op.f('ix_avatar_sets_owner'))
    op.drop_table('avatar_sets')
    with op.batch_alter_table('job_references', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_references_upload_id'))
        batch_op.drop_index(batch_op.f('ix_job_references_job_id'))
    op.drop_table('job_references')
