"""Export file formats: CSV text and Parquet row groups, produced batch by batch."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.services.analytics.scope import Scope
from app.services.exports.columns import COLUMNS, arrow_schema
from app.services.exports.rows import batches

SPOOL_BYTES = 1024 * 1024  # Parquet output kept in memory up to this, then on disk
CHUNK_BYTES = 256 * 1024
ROW_GROUP_ROWS = 25_000  # a few MB of columnar buffers per row group

if TYPE_CHECKING:
    import pyarrow as pa


def _csv_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(value)
    if isinstance(value, float):
        return repr(value)
    return "" if value is None else value


def csv_chunk(rows: Iterable[dict[str, Any]], header: bool = False) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow([c.name for c in COLUMNS])
    writer.writerows([_csv_value(r[c.name]) for c in COLUMNS] for r in rows)
    return out.getvalue()


async def csv_stream(conn: AsyncConnection, scope: Scope) -> AsyncIterator[bytes]:
    yield csv_chunk((), header=True).encode()
    async for rows in batches(conn, scope):
        yield csv_chunk(rows).encode()


def _table(rows: Sequence[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    import pyarrow as pa

    return pa.Table.from_pylist(list(rows), schema=schema)


async def parquet_stream(conn: AsyncConnection, scope: Scope) -> AsyncIterator[bytes]:
    import pyarrow as pa  # imported on first use, so servers that never export stay small
    import pyarrow.parquet as pq

    """Write row groups to a spooled temporary file, then send it in chunks.

    Parquet's footer is written last, so the file cannot go out before it is complete; the
    spool keeps only SPOOL_BYTES in memory and the rest on disk, so memory stays flat.
    """
    schema = arrow_schema()
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        with pq.ParquetWriter(spool, schema, compression="zstd") as writer:
            pending: list[pa.Table] = []
            async for rows in batches(conn, scope):
                pending.append(_table(rows, schema))
                if sum(t.num_rows for t in pending) >= ROW_GROUP_ROWS:
                    writer.write_table(pa.concat_tables(pending))
                    pending = []
            if pending:
                writer.write_table(pa.concat_tables(pending))
        spool.seek(0)
        while chunk := spool.read(CHUNK_BYTES):
            yield chunk
