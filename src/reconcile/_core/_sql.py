"""Load the engine's and the analysts' SQL files.

The SQL lives in the repository's top-level ``sql/`` folder (one relation per file). A wheel carries
it as ``reconcile/sql``; an editable install reads it from the source tree.
"""

from __future__ import annotations

import functools
from pathlib import Path

from reconcile.exceptions import ReconcileError

_PACKAGED = Path(__file__).resolve().parents[1] / "sql"
_SOURCE_TREE = Path(__file__).resolve().parents[3] / "sql"


def sql_root() -> Path:
    """The folder holding ``engine/`` and ``views/`` SQL files."""
    for root in (_PACKAGED, _SOURCE_TREE):
        if root.is_dir():
            return root
    raise ReconcileError(f"SQL folder not found: looked in {_PACKAGED} and {_SOURCE_TREE}")


@functools.cache
def load_sql(name: str) -> str:
    """The text of ``sql/<name>.sql`` (``name`` like ``engine/pair/pair_intervals``)."""
    path = sql_root() / f"{name}.sql"
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReconcileError(f"SQL file not found: {path}") from None
