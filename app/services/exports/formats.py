"""Export file formats: CSV text and Parquet row groups, produced column batch by batch."""

from __future__ import annotations

import csv
import importlib.abc
import io
import sys
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from app.services.analytics.scope import Scope
from app.services.exports.columns import COLUMNS, arrow_schema
from app.services.exports.rows import Batch, batches

ROW_GROUP_ROWS = 30_000  # a few MB of columnar buffers per row group

if TYPE_CHECKING:
    import pyarrow as pa


def _csv_column(kind: str, values: Sequence[Any]) -> Sequence[Any]:
    """CSV cells of one column: csv writes None as an empty cell and floats with repr."""
    if kind == "list<string>":
        return [";".join(v) for v in values]
    if kind == "bool":
        return ["true" if v else "false" for v in values]
    return values


def csv_chunk(batch: Batch | None, header: bool = False) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow([c.name for c in COLUMNS])
    if batch is not None:
        cells = [_csv_column(c.type, batch.columns[c.name]) for c in COLUMNS]
        writer.writerows(zip(*cells, strict=True))
    return out.getvalue()


async def csv_stream(conn: AsyncConnection, scope: Scope) -> AsyncIterator[bytes]:
    yield csv_chunk(None, header=True).encode()
    async for batch in batches(conn, scope):
        yield csv_chunk(batch).encode()


def arrow_table(batch: Batch, schema: pa.Schema) -> pa.Table:
    """One Arrow array per column, straight from the batch's column values."""
    import pyarrow as pa

    arrays = [pa.array(batch.columns[f.name], type=f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


class _Sink(io.RawIOBase):
    """A write-only file that keeps what was written until it is taken: the Parquet writer
    writes into it and the stream sends each row group as soon as it is complete."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        size = len(data)
        self._pending += data
        self._position += size
        return size

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        out, self._pending = bytes(self._pending), bytearray()
        return out


class _HidePandas(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, *_: Any) -> None:
        if name == "pandas":
            raise ImportError("hidden from pyarrow's first conversion")


def _lean_arrow() -> None:
    """Keep Arrow's share of the 200 MB export budget small, once per process.

    The first conversion of Python values makes pyarrow import pandas (about 50 MB) only to
    ask whether the input is a pandas object, which ours never is: that first conversion
    runs with pandas hidden, so pyarrow records "no pandas" (an explicit pandas conversion
    would still import it). And mimalloc, pyarrow's default allocator, reserves memory by
    whole segments: the system allocator peaked about 40 MB lower for the same export.
    Only exports use Arrow in this process.
    """
    import pyarrow as pa

    if "pandas" not in sys.modules:
        hidden = _HidePandas()
        sys.meta_path.insert(0, hidden)
        try:
            pa.array([], pa.int32())
        finally:
            sys.meta_path.remove(hidden)
    if pa.default_memory_pool().backend_name == "mimalloc":
        pa.set_memory_pool(pa.system_memory_pool())


async def parquet_stream(conn: AsyncConnection, scope: Scope) -> AsyncIterator[bytes]:
    """Row groups are sent as they are written; only the footer waits for the end.

    At most one row group of columns is held in memory, whatever the size of the export.
    """
    import pyarrow as pa  # imported on first use, so servers that never export stay small
    import pyarrow.parquet as pq

    _lean_arrow()

    schema = arrow_schema()
    sink = _Sink()
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        pending: list[pa.Table] = []
        async for batch in batches(conn, scope):
            pending.append(arrow_table(batch, schema))
            if sum(t.num_rows for t in pending) >= ROW_GROUP_ROWS:
                writer.write_table(pa.concat_tables(pending))
                pending = []
                yield sink.take()
        if pending:
            writer.write_table(pa.concat_tables(pending))
    yield sink.take()
