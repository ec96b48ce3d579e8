"""Engine runs: pinned snapshot, batch, worker claim/heartbeat/attempt, cancel flag, event seq on
test_run; one result per (run, step) on test_step_result.

Revision ID: 5072763a6344
Revises: aacc03107dfc
Create Date: 2026-11-29 09:36:38.105036
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '5072763a6344'
down_revision: str | None = 'aacc03107dfc'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONB_OR_JSON = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'
)


def upgrade() -> None:
    # batch mode: SQLite rebuilds the table for the constraints; PostgreSQL gets plain ALTERs
    with op.batch_alter_table('test_run') as batch:
        batch.add_column(sa.Column('suite_id', sa.Uuid(), nullable=True))
        batch.add_column(sa.Column('batch_id', sa.Uuid(), nullable=True))
        batch.add_column(sa.Column('from_run_id', sa.Uuid(), nullable=True))
        # existing runs get an empty snapshot; writers always set it
        batch.add_column(sa.Column('pinned', JSONB_OR_JSON, server_default='{}', nullable=False))
        batch.add_column(sa.Column('worker_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch.add_column(sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('attempt', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('cancel_requested', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column('event_seq', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('error', sa.Text(), nullable=True))
        batch.create_index(batch.f('ix_test_run_batch_id'), ['batch_id'], unique=False)
        batch.create_index('ix_test_run_status_heartbeat', ['status', 'heartbeat_at'], unique=False)
        batch.create_index(batch.f('ix_test_run_suite_id'), ['suite_id'], unique=False)
        batch.create_index(
            'ix_test_run_tenant_status_created', ['tenant_id', 'status', 'created_at'], unique=False
        )
        batch.create_foreign_key(
            batch.f('fk_test_run_suite_id_scenario_suite'), 'scenario_suite', ['suite_id'], ['id']
        )
        batch.create_foreign_key(batch.f('fk_test_run_from_run_id_test_run'), 'test_run', ['from_run_id'], ['id'])
    if op.get_bind().dialect.name == 'postgresql':
        op.alter_column('test_run', 'pinned', server_default=None)
    with op.batch_alter_table('test_step_result') as batch:
        batch.add_column(sa.Column('attempt', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('seq', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('reused_from_run_id', sa.Uuid(), nullable=True))
        batch.create_unique_constraint(
            batch.f('uq_test_step_result_run_id_order_index'), ['run_id', 'order_index']
        )


def downgrade() -> None:
    with op.batch_alter_table('test_step_result') as batch:
        batch.drop_constraint(batch.f('uq_test_step_result_run_id_order_index'), type_='unique')
        batch.drop_column('reused_from_run_id')
        batch.drop_column('seq')
        batch.drop_column('attempt')
    with op.batch_alter_table('test_run') as batch:
        batch.drop_constraint(batch.f('fk_test_run_from_run_id_test_run'), type_='foreignkey')
        batch.drop_constraint(batch.f('fk_test_run_suite_id_scenario_suite'), type_='foreignkey')
        batch.drop_index('ix_test_run_tenant_status_created')
        batch.drop_index(batch.f('ix_test_run_suite_id'))
        batch.drop_index('ix_test_run_status_heartbeat')
        batch.drop_index(batch.f('ix_test_run_batch_id'))
        for column in (
            'error', 'event_seq', 'cancel_requested', 'attempt', 'dispatched_at', 'heartbeat_at',
            'worker_id', 'pinned', 'from_run_id', 'batch_id', 'suite_id',
        ):
            batch.drop_column(column)
