"""Patients: drop the single-column index on site_id.

Every lookup by site is served by the unique (site_id, pseudonym) index, whose leading column
it is. The single-column index did harm: on a table PostgreSQL has not analysed yet (a new
registry, a bulk load, autovacuum off), its few pages of deduplicated entries made it the
cheapest-looking way to run the foreign-key check of each stored response (``id = $1 AND
site_id = $2``), and a connection keeps that plan until the statistics change. Each stored
response then read every patient of its site: a 100,000-patient load slowed down five-fold as
it grew. Without it, the only index matching both columns, (id, site_id), is chosen.

Revision ID: 0064
Revises: 0063
Create Date: 2026-11-26 02:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0064"
down_revision: str | None = "0063"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_patients_site_id", table_name="patients")


def downgrade() -> None:
    op.create_index("ix_patients_site_id", "patients", ["site_id"])
