"""The fleet layout: per host a live ledger and a rotated gzip one, as ledgers reach the nightly job."""

from __future__ import annotations

import gzip
import random
import shutil
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconcile.testing._catalogue import P_LOST, P_PREDATES, RATE_RESIZE, host_name, host_offset, host_rng
from reconcile.testing._garbage import GARBAGE_CODES, garbage_line
from reconcile.testing._instants import DAY, HOUR, format_instant, offset_text, t_ns
from reconcile.testing._inventory import snapshot_rows, write_inventory
from reconcile.testing._simulate import MARK, Faults, HostSim, Truth

DEFAULT_FLEET_START = datetime(2026, 11, 18, tzinfo=UTC)
"""Where :func:`write_fleet` ledgers begin (a week: 2026-11-18 to 2026-11-25)."""


@dataclass
class FleetHost:
    """One host folder of :func:`write_fleet`."""

    name: str
    offset: str
    live: Path
    rotated: Path
    copy: Path | None
    live_lines: int  # complete lines in the live file (garbage included, torn tail excluded)
    rotated_lines: int
    torn: bytes  # the partial last line of the live file (b"" if none)
    torn_rest: bytes  # the bytes that complete it, "\n" included


@dataclass
class FleetInfo:
    """What :func:`write_fleet` wrote, with the counts an ingest of the whole folder should report."""

    root: Path
    hosts: list[FleetHost]
    lines: int  # lines in all files, the copy and the pending torn tail included (as ingest counts)
    events: int  # distinct valid lines: what ingest keeps
    duplicates: int  # the lines of the copy
    rejects: dict[str, int]  # SPEC code -> count
    pending: int  # torn tails
    first_emitted: str  # earliest and latest instant of a valid line, UTC
    last_emitted: str
    lost_lines: list[str] = field(default_factory=list)  # the lines the producer lost (no "\n")
    resized: list[tuple[str, int]] = field(default_factory=list)  # (vm_id, Unix ns) of silent resizes
    inventory: list[Path] = field(default_factory=list)  # the snapshot files, one per instant
    inventory_rows: int = 0  # resources listed in them, all snapshots together


def _write_gz(path: Path, data: bytes) -> None:
    """Deterministic gzip: no file name, mtime 0."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(data)


def _write_host(
    folder: Path,
    name: str,
    offset: int,
    rendered: list[str],
    *,
    rotated_fraction: float,
    garbage: list[str],
    crlf: int,
    torn_tail: bool,
    copy_rotated: bool,
    rng: random.Random,
) -> FleetHost:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    cut = int(len(rendered) * rotated_fraction)
    rotated, live = rendered[:cut], rendered[cut:]
    torn = torn_rest = b""
    if torn_tail and live:  # a writer mid-append: the last line is half written
        last = live.pop().encode("utf-8")
        torn, torn_rest = last[: len(last) // 2], last[len(last) // 2 :]
    for _ in range(crlf):  # a valid line written by a Windows-minded tool
        if live:
            j = rng.randrange(len(live))
            live[j] = live[j].removesuffix("\r\n").removesuffix("\n") + "\r\n"
    for text in garbage:
        live.insert(rng.randrange(len(live) + 1), text + "\n")
    live_path, rot_path = folder / "ledger.jsonl", folder / "ledger.jsonl.1.gz"
    _write_gz(rot_path, "".join(rotated).encode("utf-8"))
    live_path.write_bytes("".join(live).encode("utf-8", "surrogateescape") + torn)
    copy_path = None
    if copy_rotated:
        copy_path = folder / "ledger.jsonl.1.copy.gz"
        shutil.copyfile(rot_path, copy_path)
    return FleetHost(
        name=folder.name,
        offset=offset_text(offset),
        live=live_path,
        rotated=rot_path,
        copy=copy_path,
        live_lines=len(live),
        rotated_lines=len(rotated),
        torn=torn,
        torn_rest=torn_rest,
    )


def write_fleet(
    directory: str | Path,
    seed: int = 0,
    *,
    hosts: int = 4,
    vms_per_host: int = 75,
    days: float = 7,
    start: datetime = DEFAULT_FLEET_START,
    garbage: bool = True,
    garbage_codes: tuple[str, ...] = GARBAGE_CODES,
    copy_rotated: bool = True,
    torn_tail: bool = True,
    rotated_fraction: float = 0.6,
    lost: float = P_LOST,
    resizes: float = RATE_RESIZE,
    predates: float = P_PREDATES,
    emit_resizes: bool = False,
    inventory: str | Path | None = None,
    inventory_every: timedelta = timedelta(hours=6),
    inventory_format: str = "csv",
) -> FleetInfo:
    """Write a fleet's ledgers as they reach the nightly job, like ``../shared/samples/fleet``.

    ``directory/host-a/ledger.jsonl`` (live) and ``ledger.jsonl.1.gz`` (rotated: the first
    ``rotated_fraction`` of the host's lines in write order) for each of ``hosts`` hosts, each simulating
    ``vms_per_host`` VMs over ``days`` days from ``start`` (default 2026-11-18T00:00Z) in its own zone
    offset. With ``copy_rotated`` host-b's rotated file is shipped twice (``ledger.jsonl.1.copy.gz``,
    identical bytes: its lines are duplicates). With ``garbage`` one line of each of ``garbage_codes``
    goes into a random host's live file at a random place, and one valid line becomes CRLF. With
    ``torn_tail`` host-a's live file ends in the first half of a line (a writer mid-append;
    :attr:`FleetHost.torn_rest` completes it). The defaults (4 hosts, 300 VMs, a week) make about 2k
    lines in a few tens of milliseconds. ``lost`` is the probability that a start or stop line is lost
    (the producer's crash between commit and emit): raise it to see more double starts and stops.
    Existing host folders are replaced; the result says what an
    ingest of the folder should count: ``lines = events + duplicates + rejects + pending``.

    Faults, and the truth they hide: ``resizes`` (silent resizes per VM and day, 0.004 by default),
    ``predates`` (the share of VMs already running when metering starts, 0.1); with
    ``emit_resizes`` each resize of a running VM is written as a stop and a start at its instant
    (the ledger a producer reporting resizes would write; the fleet is otherwise the same: no other
    line moves). The result lists the lost lines (:attr:`FleetInfo.lost_lines`).

    ``inventory`` (a folder, beside the ledgers: not inside ``directory``, which an ingest reads):
    the platform's inventory snapshots of what really ran (every ``inventory_every`` from
    ``start``, the first one ``inventory_every`` after it), one file per instant in
    ``inventory_format`` (``csv``, ``jsonl`` or ``parquet``), from the simulation itself: lost lines
    and silent resizes changed what ran, so an audit of the ledger against these files finds them
    (``reconcile audit``). :attr:`FleetInfo.resized` then lists the silent resizes of running VMs.
    """
    root = Path(directory)
    t0 = t_ns(start)
    t1 = t0 + int(days * DAY)
    rng = random.Random(f"reconcile-fleet:{seed}")  # noqa: S311 (test data, not secrets)
    rendered: list[list[str]] = []
    first_ns, last_ns = t1, t0
    lost_lines: list[str] = []
    truth: list[Truth] = []
    for h in range(hosts):
        faults = Faults(lost, resizes, predates, emit_resizes=emit_resizes, truth=inventory is not None)
        sim = HostSim(host_rng(seed, h), t0, t1, faults=faults)
        for _ in range(vms_per_host):
            sim.vm()
        offset, name = host_offset(h), host_name(h)
        lines = []
        for e in sim.ordered():
            first_ns, last_ns = min(first_ns, e.t_ns), max(last_ns, e.t_ns)
            lines.append(f'{e.head.replace(MARK, name)}{format_instant(e.t_ns, offset)}"}}\n')
        rendered.append(lines)
        lost_lines += [
            f'{e.head.replace(MARK, name)}{format_instant(e.t_ns, offset)}"}}' for e in sim.lost_events
        ]
        truth += [replace(c, resource_id=c.resource_id.replace(MARK, name)) for c in faults.kept]
    junk: list[list[str]] = [[] for _ in range(hosts)]
    crlf = [0] * hosts
    rejects: dict[str, int] = {}
    if garbage:
        for n, code in enumerate(garbage_codes):
            h = rng.randrange(hosts)
            when = format_instant(t0 + int((t1 - t0) * rng.random()), host_offset(h))
            junk[h].append(garbage_line(code, rng.randrange(3), when, n))
            rejects[code] = rejects.get(code, 0) + 1
        crlf[rng.randrange(hosts)] += 1
    out = [
        _write_host(
            root / f"host-{host_name(h)}",
            host_name(h),
            host_offset(h),
            rendered[h],
            rotated_fraction=rotated_fraction,
            garbage=junk[h],
            crlf=crlf[h],
            torn_tail=torn_tail and h == 0,
            copy_rotated=copy_rotated and h == min(1, hosts - 1),
            rng=rng,
        )
        for h in range(hosts)
    ]
    pending = sum(1 for host in out if host.torn)
    duplicates = sum(host.rotated_lines for host in out if host.copy is not None)
    files: list[Path] = []
    rows = 0
    if inventory is not None:
        step = int(inventory_every.total_seconds() * 1e9)
        if step < HOUR // 60:
            raise ValueError(f"inventory_every must be at least a minute, got {inventory_every}")
        instants = list(range(t0 + step, t1, step))
        listed = snapshot_rows(truth, instants)
        files, rows = write_inventory(Path(inventory), listed, instants, inventory_format), len(listed)
    return FleetInfo(
        root=root,
        hosts=out,
        lines=sum(host.live_lines + host.rotated_lines for host in out) + duplicates + pending,
        events=sum(len(r) for r in rendered) - pending,
        duplicates=duplicates,
        rejects=dict(sorted(rejects.items())),
        pending=pending,
        first_emitted=format_instant(first_ns, 0),
        last_emitted=format_instant(last_ns, 0),
        lost_lines=lost_lines,
        resized=[(c.resource_id, c.t_ns) for c in truth if c.endpoint == "resize"],
        inventory=files,
        inventory_rows=rows,
    )
