"""Crash safety and locking of a real ``reconcile ingest`` process (killed with SIGKILL mid-way)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from reconcile import Store, ingest
from reconcile._core._faults import ENV as FAULT_ENV

DATA = Path(__file__).resolve().parents[2] / "data"
ROOT = Path(__file__).resolve().parents[3]
HOOK = FAULT_ENV


def _command(paths: list[Path], store: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "reconcile._cli", "ingest", *map(str, paths), "--store", str(store), *extra]


def _env(hook: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop(HOOK, None)
    if hook:
        env[HOOK] = hook
    return env


def _snapshot(store: Path) -> tuple[list[str], list[tuple[object, ...]], list[tuple[object, ...]]]:
    """What a reader sees: committed ingests, events and rejects (without ingest ids)."""
    s = Store(store)
    if not s.exists():
        return [], [], []
    con = duckdb.connect()
    sql, params = s.relation_sql("events")
    events = con.execute(
        f"SELECT event_id, source_file, source_line FROM ({sql}) ORDER BY ALL", params
    ).fetchall()
    sql, params = s.relation_sql("rejects")
    rejects = con.execute(
        f"SELECT code, source_file, source_line FROM ({sql}) ORDER BY ALL", params
    ).fetchall()
    return s.ingest_ids(), events, rejects


def _ledgers(tmp_path: Path) -> list[Path]:
    fleet = tmp_path / "fleet"
    shutil.copytree(DATA / "fleet", fleet)
    return [fleet]


@pytest.fixture
def reference(tmp_path: Path) -> tuple[list[Path], tuple[object, ...]]:
    """The ledgers, and the store snapshot a clean single ingest of them gives."""
    paths = _ledgers(tmp_path)
    ingest(paths, tmp_path / "clean")
    _ids, events, rejects = _snapshot(tmp_path / "clean")
    return paths, (events, rejects)


PHASES = [
    "after-parse",
    "before-write",
    "after-events",
    "before-commit",
    "before-store-json",
    "after-store-json",
]


@pytest.mark.slow
def test_kill_at_each_phase_leaves_before_or_after(tmp_path: Path) -> None:
    """SIGKILL at every phase of a real ingest: readers see the store exactly before or after it."""
    paths = _ledgers(tmp_path)
    part = tmp_path / "part.jsonl"
    part.write_text((DATA / "fleet" / "host-c" / "ledger.jsonl").read_text())
    ingest([part], tmp_path / "clean")
    ingest(paths, tmp_path / "clean")
    _ids, ref_events, ref_rejects = _snapshot(tmp_path / "clean")
    store = tmp_path / "store"
    ingest([part], store)
    for phase in PHASES:
        before = _snapshot(store)
        result = subprocess.run(
            _command(paths, store, "--quiet"),
            env=_env(f"{phase}:kill"),
            cwd=ROOT,
            capture_output=True,
            check=False,
        )
        assert result.returncode == -signal.SIGKILL, (phase, result.stderr)
        after = _snapshot(store)
        if phase == "after-store-json":  # killed after the commit point: the ingest is in
            assert after[0][:-1] == before[0], phase
            assert len(after[0]) == len(before[0]) + 1, phase
            assert (after[1], after[2]) == (ref_events, ref_rejects)
        else:
            assert after == before, phase
    # the next ingest finishes a half-done files.json and removes what the crashed ones left
    result = subprocess.run(
        _command(paths, store, "--json", "--quiet"), env=_env(), cwd=ROOT, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["lines"], summary["events"], summary["pending"]) == (1, 0, 1)  # nothing re-read
    _ids, events, rejects = _snapshot(store)
    assert (events, rejects) == (ref_events, ref_rejects)
    s = Store(store)
    committed = set(s.ingest_ids())
    assert {p.stem for p in s.events_dir.glob("day=*/*.parquet")} <= committed
    assert set(s.event_files()) == set(s.events_dir.glob("day=*/*.parquet"))
    assert {p.stem for p in s.rejects_dir.iterdir()} == committed
    assert {p.stem for p in s.ingests_dir.iterdir()} == committed
    assert not list(store.glob("files.*.json"))
    assert not (store / ".tmp").exists()


@pytest.mark.slow
def test_kill_from_outside_at_random_moments(
    tmp_path: Path, reference: tuple[list[Path], tuple[object, ...]]
) -> None:
    """An ingest killed from outside at arbitrary moments leaves a store a reader sees whole."""
    paths, (ref_events, ref_rejects) = reference
    store = tmp_path / "store"
    states = [_snapshot(store)]
    for delay in (0.4, 0.9, 1.5):
        proc = subprocess.Popen(_command(paths, store, "--quiet"), env=_env(), cwd=ROOT)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        snap = _snapshot(store)
        if snap[0]:
            assert (snap[1], snap[2]) == (ref_events, ref_rejects) or snap[0] == states[-1][0]
        states.append(snap)
    result = subprocess.run(
        _command(paths, store, "--quiet"), env=_env(), cwd=ROOT, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr
    _ids, events, rejects = _snapshot(store)
    assert (events, rejects) == (ref_events, ref_rejects)


@pytest.mark.slow
def test_second_ingest_waits_or_fails_clearly(tmp_path: Path) -> None:
    """While one ingest holds the store, another fails with one clear line, or waits with --wait."""
    paths = _ledgers(tmp_path)
    store = tmp_path / "store"
    holder = subprocess.Popen(
        _command(paths, store, "--quiet"), env=_env("before-write:sleep4"), cwd=ROOT, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while not (store / ".tmp").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        refused = subprocess.run(
            _command(paths, store, "--quiet"),
            env=_env(),
            cwd=ROOT,
            capture_output=True,
            check=False,
            text=True,
        )
        assert refused.returncode == 1
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith(
            f"error: event store {store} is locked by another ingest (pid {holder.pid})"
        )
        waited = subprocess.run(
            _command(paths, store, "--quiet", "--json", "--wait", "60"),
            env=_env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert waited.returncode == 0, waited.stderr
        assert holder.wait(timeout=60) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    second = json.loads(waited.stdout)
    assert second["events"] == 0  # it ran after the first one committed
    assert len(Store(store).ingest_ids()) == 2
