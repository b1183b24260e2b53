"""Responses: one foreign key (patient_id, site_id) -> patients (id, site_id) for the two.

The response's patient must exist and the response must carry that patient's site; the
site exists because the patient's own foreign key to sites says so. That is what the two
single-column keys guaranteed, plus the agreement between them, for one check per stored
row instead of two (a 1,000-item batch stores 1,000 responses).

Revision ID: 0063
Revises: 0062
Create Date: 2026-11-25 19:00:00
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from alembic import op
from alembic.operations import BatchOperations

revision: str = "0063"
down_revision: str | None = "0062"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMPOSITE = "fk_responses_patient_id_site_id_patients"
PATIENT = "fk_responses_patient_id_patients"
SITE = "fk_responses_site_id_sites"


def upgrade() -> None:
    op.create_index("uq_patients_id_site_id", "patients", ["id", "site_id"], unique=True)
    with _rebuilding_responses() as batch_op:
        batch_op.drop_constraint(PATIENT, type_="foreignkey")
        batch_op.drop_constraint(SITE, type_="foreignkey")
        batch_op.create_foreign_key(
            COMPOSITE, "patients", ["patient_id", "site_id"], ["id", "site_id"]
        )


def downgrade() -> None:
    with _rebuilding_responses() as batch_op:
        batch_op.drop_constraint(COMPOSITE, type_="foreignkey")
        batch_op.create_foreign_key(PATIENT, "patients", ["patient_id"], ["id"])
        batch_op.create_foreign_key(SITE, "sites", ["site_id"], ["id"])
    op.drop_index("uq_patients_id_site_id", table_name="patients")


@contextmanager
def _rebuilding_responses() -> Iterator[BatchOperations]:
    """Alter the responses table. SQLite rebuilds it (copy, drop, rename), SQLite's own
    procedure for such changes: foreign keys off while the table is dropped (the versions
    point at it), then every key checked before they are back on; the table's triggers go
    with it, so the analytics ones (0062) are put back."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("PRAGMA foreign_keys = OFF")  # refused (left on) inside a transaction
    with op.batch_alter_table("responses", schema=None) as batch_op:
        yield batch_op
    if not sqlite:
        return
    broken = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"foreign keys broken by the rebuild of responses: {broken[:5]}")
    op.execute("PRAGMA foreign_keys = ON")
    for verb in ("INSERT", "UPDATE"):
        op.execute(
            f"CREATE TRIGGER IF NOT EXISTS responses_stale_{verb.lower()} AFTER {verb}"
            " ON responses BEGIN INSERT INTO analytics_stale (patient_id)"
            " VALUES (NEW.patient_id); END"
        )
