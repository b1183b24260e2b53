"""Pure statistics for analytics: vectors in, JSON-ready blocks out, small cells suppressed."""

from app.stats.compare import compare_groups, paired_tests
from app.stats.describe import describe, proportion
from app.stats.mixed import mixed_model
from app.stats.models import mediation
from app.stats.suppression import (
    DEFAULT_MIN_CELL,
    suppress_block,
    suppress_breakdown,
    suppress_count,
)

__all__ = [
    "DEFAULT_MIN_CELL",
    "compare_groups",
    "describe",
    "mediation",
    "mixed_model",
    "paired_tests",
    "proportion",
    "suppress_block",
    "suppress_breakdown",
    "suppress_count",
]
