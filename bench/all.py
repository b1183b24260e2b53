"""Every benchmark in turn (`make bench`): submissions, batch, demo load, analytics,
statistics, exports.

    python -m bench.all

Each module prints its own table with its own baseline measured in the same run; see
bench/README.md for the recorded results and the commands that printed them. A module that
is not there yet is skipped with a note.
"""

from __future__ import annotations

import importlib
import sys

MODULES = (
    "bench.ingest",
    "bench.batch",
    "bench.demo",
    "bench.analytics",
    "bench.stats",
    "bench.exports",
)


def main() -> None:
    failed = []
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            print(f"{name}: not present, skipped", flush=True)
            continue
        print(f"\n== {name}", flush=True)
        try:
            module.main()
        except SystemExit as exc:  # argparse or a missing tool
            if exc.code not in (None, 0):
                failed.append(name)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
