"""Property tests: the SQL pairing equals the reference model, interval by interval, anomaly by anomaly.

Histories are random endpoint sequences per resource with many ties (same instant), shapes that
often differ, events spread over several source files in shuffled line order, random cut-offs, both
double-start policies and random `stale_after`. Duplicates are removed upstream (ingest), so the
generated events are made distinct by `event_id` before pairing.
"""

from __future__ import annotations

from typing import Any

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reconcile
from helpers.pairing_ledger import NS, Event, dedupe, events_table, make_event
from helpers.pairing_model import model_pair
from reconcile._pair._walk import pair_in

BASE_NS = 1_777_000_000 * NS
RESOURCES = [
    ("vm.compute", "vm-a"),
    ("vm.compute", "vm-b"),
    ("vm.storage", "vm-a"),
    ("snap.storage", "snap-1"),
]
SHAPES = [
    (0, 0, 0),
    (2, 1 << 30, 0),
    (4, 1 << 30, 0),
    (2, 1 << 30, 10 << 30),
    (0, 0, 10 << 30),
    (0, 0, 20 << 30),
]
REASONS = [None, "boot", "restart", "stop-crash"]
FILES = ["/ledgers/host-a/ledger.jsonl", "/ledgers/host-a/ledger.jsonl.1.gz", "/ledgers/host-b/ledger.jsonl"]

_step = st.tuples(
    st.sampled_from(["start", "stop"]),
    st.integers(0, 6),  # whole seconds after BASE: ties are frequent
    st.sampled_from([0, 0, 0, 1]),  # sometimes one nanosecond later
    st.sampled_from(SHAPES),
    st.sampled_from(REASONS),
    st.sampled_from(FILES),
)


@st.composite
def histories(draw: st.DrawFn) -> list[Event]:
    """Distinct events of a few resources, in shuffled file order (line numbers follow the shuffle)."""
    steps: list[tuple[tuple[str, str], tuple[Any, ...]]] = []
    for resource in draw(st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=4, unique=True)):
        steps += [(resource, step) for step in draw(st.lists(_step, max_size=9))]
    steps = draw(st.permutations(steps))
    lines = dict.fromkeys(FILES, 0)
    events = []
    for (family, resource_id), (endpoint, seconds, nanos, shape, reason, file) in steps:
        lines[file] += 1
        events.append(
            make_event(
                f"{family}.{endpoint}",
                resource_id,
                BASE_NS + seconds * NS + nanos,
                file,
                lines[file],
                reason=reason,
                hypervisor="firecracker",
                cpu=shape[0],
                mem_bytes=shape[1],
                storage_bytes=shape[2],
            )
        )
    return dedupe(events)


_INTERVAL_COLUMNS = [
    "interval_id",
    "family",
    "resource_id",
    "vm_id",
    "snapshot_id",
    "source_snapshot_id",
    "hypervisor",
    "cpu",
    "mem_bytes",
    "storage_bytes",
    "start_ns",
    "end_ns",
    "start_reason",
    "end_reason",
    "status",
    "start_source",
    "end_source",
    "start_event_id",
    "end_event_id",
    "end_cpu",
    "end_mem_bytes",
    "end_storage_bytes",
]
_ANOMALY_COLUMNS = [
    "code",
    "family",
    "resource_id",
    "at_ns",
    "source_file",
    "source_line",
    "event_id",
    "interval_id",
]


def _key(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(v) for v in row.values())


def _check_against_model(
    pairing: reconcile.Pairing, events: list[Event], cut_off_ns: int, policy: str, stale: int | None
) -> None:
    model = model_pair(events, cut_off_ns, policy, stale)
    intervals = pairing.intervals.collect()
    anomalies = pairing.anomalies.collect()
    got_intervals = sorted(intervals.select(_INTERVAL_COLUMNS).to_dicts(), key=_key)
    assert got_intervals == sorted(model.intervals, key=_key)
    got_anomalies = sorted(anomalies.select(_ANOMALY_COLUMNS).to_dicts(), key=_key)
    assert got_anomalies == sorted(model.anomalies, key=_key)
    roles = pairing.roles.collect()
    assert dict(zip(roles["event_id"], roles["role"], strict=True)) == model.roles
    # the role identity: every event before the cut-off exactly once, nothing else
    before = sorted(e.event_id for e in events if e.emitted_ns < cut_off_ns)
    assert sorted(roles["event_id"]) == before
    # timestamps carry the same nanoseconds as the *_ns columns; details are filled in
    assert intervals.filter(pl.col("start_at").dt.epoch("ns") != pl.col("start_ns")).height == 0
    assert intervals.filter(pl.col("end_at").dt.epoch("ns") != pl.col("end_ns")).height == 0
    assert intervals.filter(pl.col("end_at").is_null() != (pl.col("status") == "open")).height == 0
    assert anomalies.filter(pl.col("at").dt.epoch("ns") != pl.col("at_ns")).height == 0
    assert anomalies.filter(pl.col("detail").is_null() | (pl.col("detail") == "")).height == 0


@pytest.mark.slow
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=histories(),
    cut_seconds=st.integers(-1, 8),
    cut_nanos=st.sampled_from([0, 1]),
    policy=st.sampled_from(["close", "drop"]),
    stale=st.one_of(st.none(), st.integers(0, 7).map(lambda s: s * NS)),
)
def test_sql_pairing_equals_model(
    events: list[Event], cut_seconds: int, cut_nanos: int, policy: str, stale: int | None
) -> None:
    """On random histories the SQL gives the model's intervals, anomalies and roles, row for row."""
    cut_off_ns = BASE_NS + cut_seconds * NS + cut_nanos
    pairing = reconcile.pair(events_table(events), cut_off_ns, double_start=policy, stale_after=stale)
    _check_against_model(pairing, events, cut_off_ns, policy, stale)


@settings(max_examples=300, deadline=None)
@given(events=histories(), cut_seconds=st.integers(-1, 8), policy=st.sampled_from(["close", "drop"]))
def test_model_role_follows_from_previous_endpoint(
    events: list[Event], cut_seconds: int, policy: str
) -> None:
    """In the SPEC state machine an event's role depends only on the previous event's endpoint."""
    cut_off_ns = BASE_NS + cut_seconds * NS
    model = model_pair(events, cut_off_ns, policy)
    by_resource: dict[tuple[str, str], list[Event]] = {}
    for e in sorted(events, key=lambda e: e.order_key):
        if e.emitted_ns < cut_off_ns:
            by_resource.setdefault((e.family, e.resource_id), []).append(e)
    for history in by_resource.values():
        previous = None
        for e in history:
            if e.endpoint == "start":
                expected = "start"
            else:
                expected = "stop" if previous == "start" else "unmatched_stop"
            assert model.roles[e.event_id] == expected
            previous = e.endpoint


@settings(max_examples=40, deadline=None)
@given(events=histories(), cut_seconds=st.integers(0, 7), policy=st.sampled_from(["close", "drop"]))
def test_pairing_ignores_input_order_and_events_after_cut_off(
    events: list[Event], cut_seconds: int, policy: str
) -> None:
    """Reversing the stored rows or dropping events at/after the cut-off changes nothing."""
    cut_off_ns = BASE_NS + cut_seconds * NS
    first = reconcile.pair(events_table(events), cut_off_ns, double_start=policy)
    kept = [e for e in reversed(events) if e.emitted_ns < cut_off_ns]
    second = reconcile.pair(events_table(kept), cut_off_ns, double_start=policy)
    for a, b in [(first.intervals, second.intervals), (first.anomalies, second.anomalies)]:
        assert sorted(a.collect().rows()) == sorted(b.collect().rows())


@settings(max_examples=30, deadline=None)
@given(events=histories(), cut_seconds=st.integers(0, 7))
def test_interval_ids_are_stable_when_later_events_arrive(events: list[Event], cut_seconds: int) -> None:
    """An interval keeps its id (the start's event_id) when a later run sees more events."""
    early = reconcile.pair(events_table(events), BASE_NS + cut_seconds * NS)
    late = reconcile.pair(events_table(events), BASE_NS + 10 * NS)
    early_ids = set(early.intervals.collect()["interval_id"])
    late_ids = set(late.intervals.collect()["interval_id"])
    assert early_ids <= late_ids


def test_pair_in_leaves_contract_tables_in_the_connection() -> None:
    """The stage run on a connection holding `events` leaves `intervals`, `anomalies`, `event_roles`."""
    events = [
        make_event("vm.compute.start", "vm-a", BASE_NS, FILES[0], 1, cpu=2),
        make_event("vm.compute.stop", "vm-a", BASE_NS + NS, FILES[0], 2),
        make_event("vm.compute.stop", "vm-a", BASE_NS + 2 * NS, FILES[0], 3),
    ]
    con = duckdb.connect()
    con.register("events", events_table(events))
    pair_in(con, cut_off_ns=BASE_NS + 10 * NS)
    assert con.execute("SELECT status FROM intervals").fetchall() == [("closed",)]
    assert con.execute("SELECT code FROM anomalies").fetchall() == [("double_stop",)]
    assert sorted(con.execute("SELECT role FROM event_roles").fetchall()) == [
        ("start",),
        ("stop",),
        ("unmatched_stop",),
    ]
    # a second run on the same connection replaces the relations (here: an earlier cut-off)
    pair_in(con, cut_off_ns=BASE_NS + NS + 1, double_start="drop")
    assert con.execute("SELECT status FROM intervals").fetchall() == [("closed",)]
    assert con.execute("SELECT count(*) FROM anomalies").fetchall() == [(0,)]
    assert con.execute("SELECT count(*) FROM event_roles").fetchall() == [(2,)]
