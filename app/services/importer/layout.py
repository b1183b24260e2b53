"""CSV layouts of `proreg import` (docs/IMPORT.md): kinds, header detection, cell conversion."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

Kind = Literal["patients", "infusions", "responses"]
KINDS: tuple[Kind, ...] = ("patients", "infusions", "responses")

# Columns each kind knows; for responses, every other column is an answer key.
COLUMNS: dict[Kind, tuple[str, ...]] = {
    "patients": ("site", "pseudonym", "birth_year", "sex", "conditions", "enrolled_on"),
    "infusions": (
        "site",
        "pseudonym",
        "started_at",
        "duration_min",
        "weight_kg",
        "dose_mg",
        "dose_mg_per_kg",
        "co_medications",
    ),
    "responses": (
        "site",
        "pseudonym",
        "instrument",
        "timepoint",
        "visit",
        "collected_at",
        "infusion_number",
    ),
}
REQUIRED: dict[Kind, tuple[str, ...]] = {
    "patients": ("pseudonym",),
    "infusions": ("pseudonym", "started_at"),
    "responses": ("pseudonym", "instrument", "timepoint", "collected_at"),
}
INTEGERS = {"birth_year", "infusion_number"}
FLOATS = {"duration_min", "weight_kg", "dose_mg", "dose_mg_per_kg"}
LIST_SEPARATOR = ";"
_INT = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    field: str | None
    message: str

    def render(self, path: str) -> str:
        where = f" {self.field}:" if self.field else ""
        return f"{path}:{self.line}:{where} {self.message}"


@dataclass(slots=True)
class ImportFailed(Exception):
    """The file was rejected; nothing of it was written."""

    errors: list[LineError] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    cells: dict[str, str]  # non-empty cells only, stripped

    def get(self, name: str) -> str | None:
        return self.cells.get(name)


def detect(header: list[str]) -> Kind:
    """responses if there is an `instrument` column, infusions if `started_at`, else patients."""
    names = set(header)
    if "instrument" in names:
        return "responses"
    if "started_at" in names:
        return "infusions"
    if "pseudonym" in names:
        return "patients"
    raise ImportFailed([LineError(1, None, "cannot tell the kind of file from its header; "
                                           "see docs/IMPORT.md or pass --kind")])  # fmt: skip


def check_header(kind: Kind, header: list[str]) -> None:
    errors = [LineError(1, name, "required column missing")
              for name in REQUIRED[kind] if name not in header]  # fmt: skip
    if kind != "responses":
        errors += [LineError(1, name, f"unknown column for {kind}")
                   for name in header if name not in COLUMNS[kind]]  # fmt: skip
    seen: set[str] = set()
    for name in header:
        if name in seen:
            errors.append(LineError(1, name, "column appears twice"))
        seen.add(name)
    if errors:
        raise ImportFailed(errors)


def read(path: Path) -> tuple[list[str], list[Row]]:
    """The header and the data rows (blank lines skipped) with their line numbers."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        rows = []
        for values in reader:
            if any(v.strip() for v in values):
                rows.append(Row(reader.line_num, _cells(header, values)))
    return header, rows


def _cells(header: list[str], values: list[str]) -> dict[str, str]:
    if len(values) != len(header):
        return {"\x00": f"{len(values)} cells for {len(header)} columns"}
    return {k: v.strip() for k, v in zip(header, values, strict=True) if v.strip()}


def shape_error(row: Row) -> LineError | None:
    message = row.cells.get("\x00")
    return LineError(row.line, None, message) if message else None


def convert(name: str, value: str) -> Any:
    """A cell as the JSON value a client would have sent; what does not parse stays a string,
    so that the API's own validation reports it."""
    if name in INTEGERS and _INT.match(value):
        return int(value)
    if name in FLOATS:
        try:
            return float(value)
        except ValueError:
            return value
    if name == "conditions":
        return [c.strip() for c in value.split(LIST_SEPARATOR) if c.strip()]
    if name == "co_medications":
        return [_co_medication(part) for part in value.split(LIST_SEPARATOR) if part.strip()]
    return value


def _co_medication(text: str) -> Any:
    """`name:dose:unit`, e.g. `midazolam:2:mg`."""
    parts = [p.strip() for p in text.split(":")]
    if len(parts) != 3:
        return text
    try:
        dose: Any = float(parts[1])
    except ValueError:
        dose = parts[1]
    return {"name": parts[0], "dose": dose, "unit": parts[2]}


def answer_value(value: str) -> Any:
    return int(value) if _INT.match(value) else value


def body(row: Row, names: tuple[str, ...]) -> dict[str, Any]:
    return {n: convert(n, row.cells[n]) for n in names if n in row.cells}


def validation_errors(line: int, exc: ValidationError) -> list[LineError]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ())) or None
        out.append(LineError(line, loc, err.get("msg", "invalid")))
    return out
