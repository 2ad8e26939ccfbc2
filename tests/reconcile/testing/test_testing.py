"""reconcile.testing, the seeded ledger generator: determinism, sizes, Go's wire format, realism, layout."""

from __future__ import annotations

import calendar
import gzip
import hashlib
import io
import itertools
import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reconcile
from reconcile import load_tenants
from reconcile import testing as gen
from reconcile.testing import _bulk, generate_ledger, write_fleet
from reconcile.testing._simulate import MARK
from recorder import Entry
from recorder._wire import line_head

DATA = Path(__file__).resolve().parents[2] / "data" / "generate"
FIELDS = ("kind", "vm_id", "snapshot_id", "source_snapshot_id", "reason", "hypervisor", "shape", "emitted_at")
SHAPE_FIELDS = ("cpu", "mem_bytes", "storage_bytes")
KINDS = {f"{fam}.{end}" for fam in ("vm.compute", "vm.storage", "snap.storage") for end in ("start", "stop")}
REASONS = {
    "boot",
    "restart",
    "clone",
    "restore",
    "hibernate-wake",
    "stop-user",
    "stop-crash",
    "vm-rm",
    "snap-rm",
}
STAMP = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)")


# --- an independent reading and writing of the wire format ----------------------------------------


def parse_stamp(text: str) -> tuple[int, int]:
    """RFC 3339 -> (Unix nanoseconds, offset seconds), written from scratch for these tests."""
    m = STAMP.fullmatch(text)
    assert m, f"not RFC 3339: {text!r}"
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac, zone = m.group(7) or "", m.group(8)
    offset = (
        0 if zone == "Z" else (1 if zone[0] == "+" else -1) * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    )
    local = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    return (local - offset) * 10**9 + int(frac.ljust(9, "0") or 0), offset


def write_stamp(ns: int, offset: int) -> str:
    """Go's RFC3339Nano for an instant and an offset, written from scratch for these tests."""
    sec, frac = divmod(ns, 10**9)
    local = datetime.fromtimestamp(sec + offset, tz=UTC)
    text = f"{local.year:04d}-{local.month:02d}-{local.day:02d}"
    text += f"T{local.hour:02d}:{local.minute:02d}:{local.second:02d}"
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    if offset == 0:
        return text + "Z"
    sign = "+" if offset > 0 else "-"
    return f"{text}{sign}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"


def encode(obj: dict[str, Any]) -> str:
    """Go's encoding/json for a metering.Entry, for ids that need no escaping."""
    ordered: dict[str, Any] = {k: obj[k] for k in FIELDS if obj.get(k) not in (None, "")}
    ordered["shape"] = {k: obj["shape"][k] for k in SHAPE_FIELDS if obj["shape"].get(k)}
    ordered["emitted_at"] = obj["emitted_at"]
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False)


def check_wire(line: str) -> dict[str, Any]:
    """Assert ``line`` is a ledger line exactly as Go writes it; return it parsed."""
    assert not re.search(r"[<>&\\\u2028\u2029\x00-\x1f\x7f]", line), line  # \x7f: the id placeholder
    obj = json.loads(line)
    assert list(obj) == [k for k in FIELDS if k in obj], f"field order: {line}"
    assert list(obj["shape"]) == [k for k in SHAPE_FIELDS if k in obj["shape"]], f"shape order: {line}"
    assert all(isinstance(v, int) and v > 0 for v in obj["shape"].values()), line
    assert encode(obj) == line
    ns, offset = parse_stamp(obj["emitted_at"])
    assert write_stamp(ns, offset) == obj["emitted_at"]
    assert obj["kind"] in KINDS, line
    assert obj.get("reason", "boot") in REASONS, line
    return obj


def events(lines: list[str]) -> list[dict[str, Any]]:
    """The valid lines, parsed, with their file position, instant and resource."""
    out = []
    for pos, line in enumerate(lines):
        obj = check_wire(line)
        obj["pos"] = pos
        obj["ns"], obj["offset"] = parse_stamp(obj["emitted_at"])
        family, obj["endpoint"] = obj["kind"].rsplit(".", 1)
        obj["key"] = (family, obj["vm_id"] if family.startswith("vm.") else obj["snapshot_id"])
        out.append(obj)
    return out


def histories(evs: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Per (family, resource): events in SPEC order (instant, stop before start, file position)."""
    per: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for e in evs:
        per[e["key"]].append(e)
    for h in per.values():
        h.sort(key=lambda e: (e["ns"], e["endpoint"] == "start", e["pos"]))
    return per


@pytest.fixture(scope="module")
def month() -> list[dict[str, Any]]:
    """A month of four hosts, 40k lines, no garbage."""
    return events(gen.generate_lines(lines=40_000, seed=11))


# --- determinism and sizes --------------------------------------------------------------------------


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    """Two ledgers written with the same arguments are byte-identical; another seed differs."""
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    generate_ledger(a, lines=5000, seed=4, garbage=0.01)
    generate_ledger(b, lines=5000, seed=4, garbage=0.01)
    generate_ledger(c, lines=5000, seed=5, garbage=0.01)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


@pytest.mark.parametrize(
    ("lines", "hosts", "garbage"), [(0, 4, 0.0), (1, 1, 0.0), (7, 3, 0.0), (2500, 4, 0.02)]
)
def test_line_count_is_exact(lines: int, hosts: int, garbage: float) -> None:
    """The ledger has exactly the lines asked for, each ending in a newline."""
    buf = io.BytesIO()
    stats = generate_ledger(buf, lines=lines, seed=1, hosts=hosts, garbage=garbage)
    data = buf.getvalue()
    assert data.count(b"\n") == lines == stats.lines
    assert len(data) == stats.bytes
    assert data == b"" or data.endswith(b"\n")


def test_replicas_keep_count_format_and_ids_distinct(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bulk path (base blocks replicated) gives exact counts, valid lines and distinct resources."""
    monkeypatch.setattr(_bulk, "_BASE_TOTAL", 800)
    stats = gen.LedgerStats(path="")
    chunks = list(gen.iter_ledger_chunks(lines=9001, seed=2, hosts=2, stats=stats))
    assert stats.replicas > 1
    lines = b"".join(chunks).decode().split("\n")[:-1]
    assert len(lines) == 9001 == stats.lines
    evs = events(lines)
    vms = {e["vm_id"] for e in evs if "vm_id" in e}
    prefixes = {v.rsplit("-", 1)[0] for v in vms}
    assert len(prefixes) == 2 * stats.replicas  # every host and replica has its own ids
    windows = min(720, -(-stats.base_lines // 64))
    per_window = -(-stats.base_lines // windows)
    assert max(c.count(b"\n") for c in chunks) <= stats.replicas * per_window  # bounded chunks
    assert len(chunks) >= 2 * windows


@settings(max_examples=15, deadline=None)
@given(lines=st.integers(0, 400), seed=st.integers(0, 2**32), hosts=st.integers(1, 9))
def test_any_size_is_exact_and_well_formed(lines: int, seed: int, hosts: int) -> None:
    """For any size, seed and host count the ledger has exactly ``lines`` lines, all in Go's format."""
    out = gen.generate_lines(lines=lines, seed=seed, hosts=hosts)
    assert len(out) == lines
    offsets = {e["offset"] for e in events(out)}
    assert offsets <= set(gen.HOST_OFFSETS[:hosts])


# --- the wire format --------------------------------------------------------------------------------


def test_lines_have_golden_key_order(month: list[dict[str, Any]]) -> None:
    """Every line's keys follow the order of Go's golden lines, with omitempty and ``shape`` present."""
    golden = [json.loads(json.loads(line)["line"]) for line in (DATA / "go_entries.jsonl").open()]
    for g in golden:  # the golden lines agree with FIELDS, and together use every field
        assert list(g) == sorted(g, key=FIELDS.index)
    assert {k for g in golden for k in g} == set(FIELDS)
    order = list(FIELDS)
    shape_order: list[str] = []
    for g in golden:
        shape_order += [k for k in g["shape"] if k not in shape_order]
    assert shape_order == list(SHAPE_FIELDS)
    for e in month:
        keys = [k for k in e if k in FIELDS]
        assert keys == sorted(keys, key=order.index)
        assert keys[0] == "kind"
        assert keys[-2:] == ["shape", "emitted_at"]
        assert list(e["shape"]) == sorted(e["shape"], key=shape_order.index)


def test_format_instant_matches_golden_stamps() -> None:
    """The generator's RFC 3339 writer reproduces every golden timestamp Go wrote (after 1970)."""
    for line in (DATA / "go_entries.jsonl").open():
        case = json.loads(line)["case"]
        if case["unix_nanos"] is None or not 0 <= case["unix_nanos"] < 4 * 10**18:
            continue
        stamp = json.loads(json.loads(line)["line"])["emitted_at"]
        assert gen.format_instant(case["unix_nanos"], case["offset_seconds"]) == stamp


def test_fractions_and_offsets_vary(month: list[dict[str, Any]]) -> None:
    """Fractions have 0 to 9 digits (trailing zeros trimmed) and each host writes its own offset."""
    lengths = Counter(len(STAMP.fullmatch(e["emitted_at"]).group(7) or "") for e in month)  # type: ignore[union-attr]
    assert lengths[9] > len(month) * 0.7
    assert {3, 6, 8} <= set(lengths)
    assert {e["offset"] for e in month} == {0, -5 * 3600, 5 * 3600 + 1800, 9 * 3600}
    assert {e["emitted_at"][-6:] for e in month if e["offset"] == 9 * 3600} == {"+09:00"}


# --- realism ----------------------------------------------------------------------------------------


def test_month_spans_about_a_month_out_of_order(month: list[dict[str, Any]]) -> None:
    """Instants cover the month, and the file is roughly but not strictly in time order."""
    ns = [e["ns"] for e in month]
    start = int(gen.DEFAULT_START.timestamp()) * 10**9
    assert start <= min(ns) < start + 86400 * 10**9
    assert start + 29 * 86400 * 10**9 < max(ns) < start + 31 * 86400 * 10**9
    backwards = sum(1 for a, b in itertools.pairwise(ns) if b < a)
    assert 0 < backwards < len(ns) // 3


def test_producer_patterns_present(month: list[dict[str, Any]]) -> None:
    """Crash restarts, restores, clones, wakes, removals, snapshots and back-dated stops all occur."""
    per = histories(month)
    at = defaultdict(list)
    for e in month:
        at[(e["vm_id"] if "vm_id" in e else e["snapshot_id"], e["ns"])].append(e)
    crash_pairs = restore_pairs = 0
    for group in at.values():
        kinds = {(e["kind"], e.get("reason")) for e in group}
        if {("vm.compute.stop", "stop-crash"), ("vm.compute.start", "restart")} <= kinds:
            crash_pairs += 1
        stops = [e for e in group if e["kind"] == "vm.storage.stop" and e.get("reason") == "restore"]
        starts = [e for e in group if e["kind"] == "vm.storage.start" and e.get("reason") == "restore"]
        if stops and starts:
            assert stops[0]["source_snapshot_id"] == starts[0]["source_snapshot_id"]
            assert stops[0]["shape"] != starts[0]["shape"]
            restore_pairs += 1
    assert crash_pairs > 50
    assert restore_pairs > 5
    reasons = Counter((e["kind"], e.get("reason")) for e in month)
    assert reasons[("vm.compute.start", "clone")] > 0
    assert all("source_snapshot_id" in e for e in month if e.get("reason") == "clone")
    assert reasons[("vm.compute.start", "hibernate-wake")] > 0
    assert reasons[("vm.storage.stop", "vm-rm")] > 0
    assert all(e["shape"] == {} for e in month if e.get("reason") in ("vm-rm", "snap-rm"))
    snap_starts = [e for e in month if e["kind"] == "snap.storage.start"]
    assert sum(1 for e in snap_starts if "reason" not in e) > 0.9 * len(snap_starts)
    assert all("vm_id" not in e for e in month if e["kind"].startswith("snap."))
    # predating metering: some VMs' first event is a stop
    first_stops = [h for k, h in per.items() if k[0] == "vm.compute" and h[0]["endpoint"] == "stop"]
    assert len(first_stops) > 10
    # back-dated crash stops: written well after lines with later instants
    latest = 0
    backdated = 0
    for e in month:
        if e.get("reason") == "stop-crash" and e["ns"] < latest - 60 * 10**9:
            backdated += 1
        latest = max(latest, e["ns"])
    assert backdated > 5


def test_shapes_on_stops_vary(month: list[dict[str, Any]]) -> None:
    """Stops carry the start's shape, ``{}``, or a different shape (a silent resize)."""
    same = empty = different = 0
    for (family, _), h in histories(month).items():
        if family != "vm.compute":
            continue
        for a, b in itertools.pairwise(h):
            if a["endpoint"] == "start" and b["endpoint"] == "stop":
                if not b["shape"]:
                    empty += 1
                elif (b["shape"]["cpu"], b["shape"]["mem_bytes"]) == (
                    a["shape"]["cpu"],
                    a["shape"]["mem_bytes"],
                ):
                    same += 1
                else:
                    different += 1
    assert same > 5 * (empty + different)
    assert empty > 10
    assert different > 0


def test_anomalies_are_rare_but_present(month: list[dict[str, Any]]) -> None:
    """Lost lines give double starts, orphan and double stops at about 0.1%; some starts stay open."""
    double_start = double_stop = open_at_end = 0
    for h in histories(month).values():
        for a, b in itertools.pairwise(h):
            if a["endpoint"] == b["endpoint"] == "start":
                double_start += 1
            elif a["endpoint"] == b["endpoint"] == "stop" and a["ns"] != b["ns"]:
                double_stop += 1
        if h[-1]["endpoint"] == "start":
            open_at_end += 1
    assert 0 < double_start + double_stop < len(month) * 0.005
    assert open_at_end > 100


# --- garbage ------------------------------------------------------------------------------------------


def classify(raw: bytes) -> str | None:  # noqa: PLR0911, PLR0912 (the SPEC's list, in its order)
    """The SPEC reject code of a line (for the faults the generator makes), None if it is an event."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if not raw:
        return "blank"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_utf8"
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return "malformed_json"
    if not isinstance(obj, dict):
        return "not_an_object"
    for k in FIELDS:
        if k in obj and not isinstance(obj[k], dict if k == "shape" else str):
            return "wrong_type"
    if obj.get("kind") not in KINDS:
        return "unknown_kind"
    if not obj.get("vm_id" if obj["kind"].startswith("vm.") else "snapshot_id"):
        return "missing_id"
    if not STAMP.fullmatch(obj.get("emitted_at", "")):
        return "bad_timestamp"
    if obj["emitted_at"] == "0001-01-01T00:00:00Z":
        return "zero_timestamp"
    if not "2000" <= obj["emitted_at"][:4] < "2200":
        return "implausible_timestamp"
    if any(
        not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 2**63 for v in obj["shape"].values()
    ):
        return "bad_shape"
    return None


@pytest.mark.parametrize("code", [*gen.GARBAGE_CODES, "line_too_long"])
@pytest.mark.parametrize("variant", [0, 1, 2])
def test_garbage_line_has_its_code(code: str, variant: int) -> None:
    """Each garbage variant is rejected with exactly the code it is made for."""
    line = gen.garbage_line(code, variant, "2026-11-05T10:00:00.5+05:30", 3)
    raw = line.encode("utf-8", "surrogateescape")
    assert b"\n" not in raw
    if code == "line_too_long":
        assert len(raw) > 1 << 20
        assert classify(raw) is None  # otherwise valid: only its length is wrong
    else:
        assert classify(raw) == code


def test_ledger_garbage_when_asked() -> None:
    """With a garbage fraction the ledger holds that share of rejects, every code, and CRLF lines."""
    lines = gen.generate_lines(lines=20_000, seed=3, garbage=0.01, garbage_codes=(*gen.GARBAGE_CODES, "crlf"))
    stats = gen.LedgerStats(path="")
    list(
        gen.iter_ledger_chunks(
            lines=20_000, seed=3, garbage=0.01, garbage_codes=(*gen.GARBAGE_CODES, "crlf"), stats=stats
        )
    )
    codes = Counter(classify(line.encode("utf-8", "surrogateescape")) for line in lines)
    rejects = {k: v for k, v in codes.items() if k is not None}
    assert rejects == stats.garbage
    assert set(rejects) == set(gen.GARBAGE_CODES)
    assert 150 <= sum(rejects.values()) <= 200
    assert sum(1 for line in lines if line.endswith("\r")) == stats.crlf > 0
    assert gen.generate_lines(lines=20_000, seed=3).count("") == 0  # none by default


# --- the fleet layout --------------------------------------------------------------------------------


def read_lines(path: Path) -> list[bytes]:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return data.split(b"\n")


def test_fleet_layout(tmp_path: Path) -> None:
    """Per-host live and rotated gzip files, one copy shipped twice, a torn tail, counts that add up."""
    info = write_fleet(tmp_path / "fleet", seed=7)
    names = sorted(p.name for p in (tmp_path / "fleet").iterdir())
    assert names == ["host-a", "host-b", "host-c", "host-d"]
    assert sorted(p.name for p in (tmp_path / "fleet" / "host-b").iterdir()) == [
        "ledger.jsonl",
        "ledger.jsonl.1.copy.gz",
        "ledger.jsonl.1.gz",
    ]
    b = info.hosts[1]
    assert b.copy is not None
    assert b.copy.read_bytes() == b.rotated.read_bytes()
    a = info.hosts[0]
    live = a.live.read_bytes()
    assert not live.endswith(b"\n")
    assert live.endswith(a.torn)
    check_wire((a.torn + a.torn_rest).decode().rstrip("\n"))
    assert classify(a.torn) == "malformed_json"
    seen: set[bytes] = set()
    counted: Counter[str] = Counter()
    lines = duplicates = pending = 0
    for host in info.hosts:
        assert host.rotated.read_bytes()[:2] == b"\x1f\x8b"
        files = [host.rotated, *([host.copy] if host.copy else []), host.live]
        for path in files:
            parts = read_lines(path)
            if parts[-1]:
                pending += 1
            lines += len(parts) - (0 if parts[-1] else 1)
            for raw in parts[:-1]:
                code = classify(raw)
                if code is not None:
                    counted[code] += 1
                    continue
                line = raw.removesuffix(b"\r").decode()
                check_wire(line)
                if line in seen:
                    duplicates += 1
                seen.add(line)
    assert dict(counted) == info.rejects
    assert set(info.rejects) == set(gen.GARBAGE_CODES)
    assert (lines, duplicates, pending, len(seen)) == (info.lines, info.duplicates, info.pending, info.events)
    assert info.lines == info.events + info.duplicates + sum(info.rejects.values()) + info.pending


def test_fleet_hosts_have_offsets_and_share_nothing(tmp_path: Path) -> None:
    """Each host writes one offset of its own; the rotated part is older than the live part."""
    info = write_fleet(tmp_path, seed=1, garbage=False, torn_tail=False)
    offsets = []
    for host in info.hosts:
        rotated = events([r.decode() for r in read_lines(host.rotated)[:-1]])
        live = events([r.decode() for r in read_lines(host.live)[:-1]])
        offsets.append({e["emitted_at"][-6:] if e["offset"] else "Z" for e in rotated + live})
        assert sum(e["ns"] for e in rotated) / len(rotated) < sum(e["ns"] for e in live) / len(live)
        assert host.live.read_bytes().endswith(b"\n")
    assert offsets == [{"Z"}, {"-05:00"}, {"+05:30"}, {"+09:00"}]
    assert info.pending == 0
    assert not info.rejects


def test_fleet_is_deterministic(tmp_path: Path) -> None:
    """The same seed writes the same bytes in every file (its speed: bench/gen_ledger.py --fleet)."""
    write_fleet(tmp_path / "one", seed=3)
    write_fleet(tmp_path / "two", seed=3)
    for path in sorted((tmp_path / "one").rglob("*")):
        if path.is_file():
            assert path.read_bytes() == (tmp_path / "two" / path.relative_to(tmp_path / "one")).read_bytes()


def micro(line: str) -> str:
    """The line with its fraction truncated to microseconds, as a datetime-based writer keeps it."""
    head, stamp = line.rsplit('"emitted_at":"', 1)
    m = STAMP.fullmatch(stamp[:-2])
    assert m
    frac = (m.group(7) or "")[:6].rstrip("0")
    whole = stamp[:19]
    return f'{head}"emitted_at":"{whole}{"." + frac if frac else ""}{m.group(8)}"}}'


def test_recorder_writes_the_same_lines() -> None:
    """``recorder.Entry`` reads every generated line and writes it back byte for byte (to microseconds)."""
    lines = gen.generate_lines(lines=5000, seed=8)
    exact = 0
    for line in lines:
        back = Entry.from_line(line).to_line()
        assert back == (micro(line) + "\n").encode()
        if micro(line) == line:
            exact += 1
    assert exact > 50  # restores (ms) and back-dated stops (us) round-trip unchanged


def test_split_writes_one_ledger_per_host(tmp_path: Path) -> None:
    """With ``split`` each host's lines go to its own folder, same lines as the merged ledger."""
    stats = generate_ledger(tmp_path, lines=3001, seed=6, hosts=3, split=True)
    merged = gen.generate_lines(lines=3001, seed=6, hosts=3)
    per_host = {p.parent.name: p.read_text().splitlines() for p in tmp_path.glob("host-*/ledger.jsonl")}
    assert sorted(per_host) == ["host-a", "host-b", "host-c"]
    assert sum(len(v) for v in per_host.values()) == 3001 == stats.lines
    assert sorted(line for v in per_host.values() for line in v) == sorted(merged)
    for name, offset in zip(["host-a", "host-b", "host-c"], ["Z", "-05:00", "+05:30"], strict=True):
        assert all(line.endswith(f'{offset}"}}') for line in per_host[name])


def test_write_tenants_is_deterministic_loadable_and_splits_moved_resources(tmp_path: Path) -> None:
    """write_tenants: same seed same bytes; valid for load_tenants; moved resources split at move_at."""
    ids = [f"vm-{i:04d}" for i in range(2000)]
    move_at = datetime(2026, 11, 21, 12, tzinfo=UTC)
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    rows = gen.write_tenants(first, ids, 3, move_at=move_at, moved=0.1, unattributed=0.05)
    gen.write_tenants(second, reversed(ids), 3, move_at=move_at, moved=0.1, unattributed=0.05)
    assert first.read_bytes() == second.read_bytes()
    table = load_tenants(first).to_pylist()
    assert len(table) == rows
    per_resource: dict[str, list[dict[str, object]]] = {}
    for row in table:
        per_resource.setdefault(str(row["resource_id"]), []).append(row)
    split_ns = int(move_at.timestamp()) * 1_000_000_000
    moved = [r for r in per_resource.values() if len(r) == 2]
    assert 0.05 * len(ids) < len(moved) < 0.15 * len(ids)
    for pair in moved:
        before, after = sorted(pair, key=lambda r: r["valid_to_ns"] is None)
        assert before["valid_to_ns"] == split_ns
        assert after["valid_from_ns"] == split_ns
        assert before["tenant_id"] != after["tenant_id"]
    missing = len(ids) - len(per_resource)
    assert 0.02 * len(ids) < missing < 0.08 * len(ids)


# --- the package: its surface, one encoder, goldens ------------------------------------------------

PUBLIC = {
    "DEFAULT_FLEET_START",
    "DEFAULT_START",
    "GARBAGE_CODES",
    "HOST_OFFSETS",
    "FleetHost",
    "FleetInfo",
    "LedgerStats",
    "StandaloneCluster",
    "format_instant",
    "garbage_line",
    "generate_ledger",
    "generate_lines",
    "iter_ledger_chunks",
    "write_fleet",
    "write_tenants",
}


def test_public_surface_and_module_sizes() -> None:
    """``reconcile.testing`` exports exactly its public names, the engine's re-exports are the same
    objects, and every module of the package stays well under 500 lines."""
    assert set(gen.__all__) == PUBLIC
    assert len(gen.__all__) == len(PUBLIC)
    assert all(getattr(gen, name) is not None for name in gen.__all__)
    for name in ("FleetInfo", "LedgerStats", "generate_ledger", "write_fleet"):
        assert getattr(reconcile, name) is getattr(gen, name)
    package = Path(gen.__file__).parent
    sizes = {p.name: len(p.read_text().splitlines()) for p in package.glob("*.py")}
    assert {"__init__.py", "_simulate.py", "_bulk.py", "_fleet.py"} <= set(sizes)
    assert max(sizes.values()) < 500, sizes


def test_line_head_keeps_the_id_placeholder() -> None:
    """The recorder's encoder writes the placeholder of the replica code as it is, once per id."""
    head = line_head(
        "vm.compute.start", f"vm-{MARK}-00001", "", f"snap-{MARK}-000002", "clone", "fc", (2, 0, 5)
    )
    assert head.count(MARK) == 2
    assert head == (
        f'{{"kind":"vm.compute.start","vm_id":"vm-{MARK}-00001","source_snapshot_id":"snap-{MARK}-000002",'
        '"reason":"clone","hypervisor":"fc","shape":{"cpu":2,"storage_bytes":5},"emitted_at":"'
    )
    for code in (*gen.GARBAGE_CODES, "line_too_long"):
        assert all(MARK not in gen.garbage_line(code, v, "2026-11-05T10:00:00Z") for v in range(3))


# SHA-256s of outputs written before the generator became this package (its bytes must never change
# for a seed). Waiting times go through math.log: another platform's libm could move an instant.
GOLDEN_LEDGER = "94d517e136996602d652fb2ee09627e32d21eb87148f34e7b5636f67cb8bcaa0"
GOLDEN_FLEET = {  # rotated files by their decompressed bytes (a zlib build may compress differently)
    "host-a/ledger.jsonl": "dd64631804c77b0d99ed30f62ee2b7d19d3e2a5d7142436ddac0182afeb67406",
    "host-a/ledger.jsonl.1.gz": "6a59c1e630c9be17eab97bbcd0bca0c80c79502d1c636f727e9115fb45123a43",
    "host-b/ledger.jsonl": "daffcd081a3b84f25b4a5e83c4a5d97e7b71bb1fad721e148d1db9761f2c458a",
    "host-b/ledger.jsonl.1.copy.gz": "be08fb18fd162a3d52a848747858c37ab9ad25b250c47c5da1dfa11547ebbb87",
    "host-b/ledger.jsonl.1.gz": "be08fb18fd162a3d52a848747858c37ab9ad25b250c47c5da1dfa11547ebbb87",
    "host-c/ledger.jsonl": "b7652b7b9b1133614e2c528e1d545624341c39a5b7e5fce99e9e4b98f31b468e",
    "host-c/ledger.jsonl.1.gz": "0ac4c57a885836d672fb3398918d9c30719cf470984e4c521adfe6920cc0198e",
    "host-d/ledger.jsonl": "1644e462ab1e1fe9ccaf54121d0efa8e3a4bf214128907e62bf0829452ddf52e",
    "host-d/ledger.jsonl.1.gz": "3fe43c4a0b353f53d5344503cb3b30cd4e36fd14be6b78d0c1d166ff20b27787",
}
GOLDEN_TENANTS = "cd1ae3ff5515dcf325563e35805c2cd4c6dda8a8e1f6f3e23486851941499076"


def test_output_bytes_match_goldens(tmp_path: Path) -> None:
    """A short ledger (garbage, CRLF, four hosts), a small fleet and a tenant table keep their bytes."""
    buf = io.BytesIO()
    generate_ledger(
        buf, lines=2500, seed=1, hosts=4, garbage=0.02, garbage_codes=(*gen.GARBAGE_CODES, "crlf")
    )
    assert hashlib.sha256(buf.getvalue()).hexdigest() == GOLDEN_LEDGER
    write_fleet(tmp_path / "fleet", seed=7, vms_per_host=20)
    files = sorted(p for p in (tmp_path / "fleet").rglob("*") if p.is_file())
    digests = {
        str(p.relative_to(tmp_path / "fleet")): hashlib.sha256(
            gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
        ).hexdigest()
        for p in files
    }
    assert digests == GOLDEN_FLEET
    ids = [f"vm-{i:04d}" for i in range(300)]
    gen.write_tenants(tmp_path / "t.csv", ids, 3, move_at=datetime(2026, 11, 21, 12, tzinfo=UTC), moved=0.1)
    assert hashlib.sha256((tmp_path / "t.csv").read_bytes()).hexdigest() == GOLDEN_TENANTS


def test_readme_example_runs(tmp_path: Path) -> None:
    """The README's example of ``reconcile.testing`` in a user's test runs and passes as written."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Testing your own code against generated ledgers", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "no python example in the README's section on reconcile.testing"
    namespace: dict[str, Any] = {}
    exec(compile(match.group(1), "README.md", "exec"), namespace)  # noqa: S102 (our own README)
    tests = [value for name, value in namespace.items() if name.startswith("test_")]
    assert len(tests) == 1
    tests[0](tmp_path)
