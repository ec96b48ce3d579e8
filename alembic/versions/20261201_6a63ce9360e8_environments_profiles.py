"""Environments and connection profiles editable as a whole: description, variables, plugin config,
secret sources and an optimistic version on environment; the typed profile settings and timestamps on
db_connection_profile, kafka_cluster_profile and queue_broker_profile.

Revision ID: 6a63ce9360e8
Revises: 950a3e0eb424
Create Date: 2026-12-01 09:00:00.000000
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '6a63ce9360e8'
down_revision: str | None = '950a3e0eb424'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONB_OR_JSON = sa.JSON(none_as_null=True).with_variant(
    postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), 'postgresql'
)
PROFILE_TABLES = ('db_connection_profile', 'kafka_cluster_profile', 'queue_broker_profile')
ENVIRONMENT_JSON = ('variables', 'plugin_config', 'secrets')


def _timestamps(batch: Any, *, created_by: bool) -> None:
    batch.add_column(sa.Column('created_at', sa.DateTime(timezone=True), nullable=True))
    if created_by:
        batch.add_column(sa.Column('created_by', sa.Uuid(), nullable=True))
    batch.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
    batch.add_column(sa.Column('updated_by', sa.Uuid(), nullable=True))


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == 'postgresql'
    with op.batch_alter_table('environment') as batch:
        batch.add_column(
            sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=2000), server_default='', nullable=False)
        )
        # existing rows get empty objects; writers always set them
        for column in ENVIRONMENT_JSON:
            batch.add_column(sa.Column(column, JSONB_OR_JSON, server_default='{}', nullable=False))
        batch.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))
        _timestamps(batch, created_by=True)
    for table in PROFILE_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('settings', JSONB_OR_JSON, server_default='{}', nullable=False))
            _timestamps(batch, created_by=False)
    if postgres:
        for column in ENVIRONMENT_JSON:
            op.alter_column('environment', column, server_default=None)
        for table in PROFILE_TABLES:
            op.alter_column(table, 'settings', server_default=None)


def downgrade() -> None:
    for table in PROFILE_TABLES:
        with op.batch_alter_table(table) as batch:
            for column in ('updated_by', 'updated_at', 'created_at', 'settings'):
                batch.drop_column(column)
    with op.batch_alter_table('environment') as batch:
        for column in (
            'updated_by', 'updated_at', 'created_by', 'created_at', 'version', *ENVIRONMENT_JSON, 'description',
        ):
            batch.drop_column(column)
