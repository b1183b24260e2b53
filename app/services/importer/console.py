"""Terminal side of `proreg import`: a Rich progress bar and the error report."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from app.services.importer.layout import LineError

MAX_SHOWN = 50


class RichProgress:
    """One bar per stage (checking the rows, then writing them)."""

    def __init__(self, console: Console) -> None:
        self._bar = Progress(
            TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(),
            console=console, transient=False,
        )  # fmt: skip
        self._task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bar.stop()

    def stage(self, name: str, total: int) -> None:
        self._task = self._bar.add_task(name, total=total, visible=total > 0)

    def advance(self, n: int = 1) -> None:
        if self._task is not None:
            self._bar.advance(self._task, n)


def report(console: Console, path: str, errors: list[LineError]) -> None:
    for error in errors[:MAX_SHOWN]:
        console.print(error.render(path), markup=False, highlight=False, soft_wrap=True)
    if len(errors) > MAX_SHOWN:
        console.print(f"… and {len(errors) - MAX_SHOWN} more errors")
    console.print(
        f"[red]{path}: {len(errors)} error(s); nothing was imported[/red]", soft_wrap=True
    )
