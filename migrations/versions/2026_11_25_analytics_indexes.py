"""Analytics: infusions indexed in their numbering order.

Revision ID: 0061
Revises: 0001
Create Date: 2026-11-25 15:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0061"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("infusions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_infusions_patient_order",
            ["patient_id", "started_at", "created_at", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("infusions", schema=None) as batch_op:
        batch_op.drop_index("ix_infusions_patient_order")
