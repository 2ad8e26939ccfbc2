"""Source freshness: per ledger source, its newest event and when it last grew (``sources`` relation).

A host that stops shipping leaves no error anywhere: its VMs stay ``open`` up to every cut-off and
are billed as running. The store keeps, per input file (``files.json``), the latest instant of the
events it took from it and when an ingest last found it longer; ``sql/views/sources.sql`` groups a
file with its rotations into a source. ``reconcile nightly --max-silence 6h`` reports every source
whose newest event is older than that at the night's cut-off (``--fail-on silent-sources`` fails the
night on it).
"""

from __future__ import annotations

from dataclasses import dataclass

from reconcile._core._duckdb import literal, plain_connect
from reconcile._core._jsonvalue import JsonObject
from reconcile._core._period import format_ns
from reconcile._core._sql import load_sql
from reconcile._store._reader import Store


@dataclass(frozen=True)
class Source:
    """One ledger source's freshness."""

    source: str
    files: int
    newest_ns: int | None  # the latest instant of its events in the store (None: none known)
    grew_at: str | None  # when an ingest last found one of its files longer (RFC 3339)
    newest_file: str | None

    @property
    def newest_at(self) -> str | None:
        """``newest_ns`` as RFC 3339 text."""
        return None if self.newest_ns is None else format_ns(self.newest_ns)

    def to_json(self) -> JsonObject:
        """A JSON-ready dict."""
        return {
            "source": self.source,
            "files": self.files,
            "newest_ns": self.newest_ns,
            "grew_at": self.grew_at,
            "newest_file": self.newest_file,
            "newest_at": self.newest_at,
        }

    def silence_ns(self, cut_off_ns: int) -> int | None:
        """How long before ``cut_off_ns`` its newest event lies (None: no event known)."""
        return None if self.newest_ns is None else cut_off_ns - self.newest_ns


def read_sources(store: Store) -> list[Source]:
    """Every source of ``store`` (none before its first ingest)."""
    if not store.files_path.is_file():
        return []
    with plain_connect() as con:
        con.execute("SET VARIABLE files_json = ?", [literal(store.files_path)])
        # (grew_at as nanoseconds too: a Python datetime would print +00:00, and keep microseconds)
        rel = con.sql(f"SELECT *, epoch_ns(grew_at) AS grew_ns FROM ({load_sql('views/sources')})")
        columns, rows = rel.columns, rel.fetchall()
    found = []
    for row in rows:
        r = dict(zip(columns, row, strict=True))
        grew = r["grew_ns"]
        found.append(
            Source(
                source=str(r["source"]),
                files=int(r["files"]),
                newest_ns=None if r["newest_ns"] is None else int(r["newest_ns"]),
                grew_at=None if grew is None else format_ns(int(grew)),
                newest_file=r["newest_file"],
            )
        )
    return found


def silent_sources(sources: list[Source], cut_off_ns: int, max_silence_ns: int) -> list[Source]:
    """The sources whose newest event lies more than ``max_silence_ns`` before ``cut_off_ns`` (or
    that have none)."""
    return [s for s in sources if (gap := s.silence_ns(cut_off_ns)) is None or gap > max_silence_ns]
