"""The bulk ledger: per host a simulated base block, and replicas of it (other ids, shifted instants),
interleaved window by window, in chunks of bounded size (see :mod:`reconcile.testing`)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from reconcile.testing._catalogue import host_name, host_offset, host_rng
from reconcile.testing._garbage import check_garbage_codes, garbage_line
from reconcile.testing._instants import DAY, NS, SEC2, MinuteCache, frac_text, offset_text, t_ns
from reconcile.testing._simulate import MARK, HostSim

_BASE_TOTAL = 160_000  # lines simulated at most (all hosts together); the rest are replicas
_WINDOWS = 720  # interleaving windows (about one per hour of a month)


@dataclass
class LedgerStats:
    """What :func:`generate_ledger` wrote. ``first_emitted``/``last_emitted``: of the first/last line."""

    path: str
    lines: int = 0
    bytes: int = 0
    seed: int = 0
    hosts: int = 0
    replicas: int = 0
    base_lines: int = 0
    first_emitted: str = ""
    last_emitted: str = ""
    garbage: dict[str, int] = field(default_factory=dict)
    crlf: int = 0

    def describe(self) -> str:
        """One line for people."""
        junk = sum(self.garbage.values())
        return (
            f"wrote {self.lines:,} lines ({self.bytes:,} bytes) to {self.path}: seed {self.seed}, "
            f"{self.hosts} hosts x {self.replicas} replicas of {self.base_lines:,}-line blocks, "
            f"{junk} garbage, {self.crlf} CRLF, {self.first_emitted} .. {self.last_emitted}"
        )


@dataclass
class _Base:
    parts: list[tuple[str, ...]]  # the line up to emitted_at, split where the replica code goes
    secs: list[int]  # the instant, Unix seconds (UTC)
    fracs: list[str]  # its fraction as written (".123456789", ".5", "")


def _simulate_base(rng: random.Random, t0: int, t1: int, target: int) -> _Base:
    sim = HostSim(rng, t0, t1)
    while len(sim.events) < target:
        sim.vm()
    events = sim.ordered()[:target]
    return _Base(
        parts=[tuple(e.head.split(MARK)) for e in events],
        secs=[e.t_ns // NS for e in events],
        fracs=[frac_text(e.t_ns % NS) for e in events],
    )


def _emitted_at(line: str) -> str:
    return line.rsplit('"emitted_at":"', 1)[-1].rstrip('"}\r\n')


class Bulk:
    """A bulk ledger of exactly ``lines`` lines: hosts, their base blocks, replicas, windows, garbage."""

    def __init__(
        self,
        *,
        lines: int,
        seed: int,
        hosts: int,
        start: datetime,
        days: float,
        garbage: float,
        garbage_codes: tuple[str, ...],
    ) -> None:
        if lines < 0:
            raise ValueError(f"lines must be >= 0, got {lines}")
        if hosts < 1:
            raise ValueError(f"hosts must be >= 1, got {hosts}")
        if not 0.0 <= garbage < 1.0:
            raise ValueError(f"garbage must be a fraction in [0, 1), got {garbage}")
        if days <= 0:
            raise ValueError(f"days must be > 0, got {days}")
        check_garbage_codes(garbage_codes)
        self.lines, self.hosts, self.garbage_codes = lines, hosts, garbage_codes
        self.g_ratio = garbage / (1.0 - garbage)
        t0 = t_ns(start)
        t1 = t0 + int(days * DAY)
        per_host = max(1, -(-lines // hosts))  # enough valid lines even with no garbage
        cap = max(1, _BASE_TOTAL // hosts)
        self.replicas = -(-per_host // cap)
        base_lines = -(-per_host // self.replicas)
        self.rng = random.Random(f"reconcile-generate-plan:{seed}")  # noqa: S311 (test data, not secrets)
        self.offsets = [host_offset(h) for h in range(hosts)]
        self.offset_texts = [offset_text(o) for o in self.offsets]
        # replica 0 keeps the simulated instants; the others shift by up to half an hour
        self.shifts = [
            [0] + [self.rng.randrange(-1800, 1801) for _ in range(self.replicas - 1)] for _ in range(hosts)
        ]
        width = max(2, len(f"{self.replicas - 1:x}"))
        self.codes = [[f"{host_name(h)}{r:0{width}x}" for r in range(self.replicas)] for h in range(hosts)]
        empty = _Base([], [], [])
        self.bases = [
            _simulate_base(host_rng(seed, h), t0, t1, base_lines) if lines else empty for h in range(hosts)
        ]
        self.base_lines = min(len(b.parts) for b in self.bases)
        windows = max(1, min(_WINDOWS, -(-self.base_lines // 64)))
        self.edges = [self.base_lines * w // windows for w in range(windows + 1)]
        self.minutes = MinuteCache()
        self.normal = self.junk = 0
        self.counts: dict[str, int] = {}
        self.crlf = 0

    def render(self, host: int, a: int, b: int) -> list[str]:
        """Base lines ``a:b`` of ``host`` for every replica (the hot loop)."""
        base = self.bases[host]
        parts, secs, fracs = base.parts, base.secs, base.fracs
        off_text, minutes, sec2 = self.offset_texts[host], self.minutes, SEC2
        out: list[str] = []
        append = out.append
        for code, shift in zip(self.codes[host], self.shifts[host], strict=True):
            d = shift + self.offsets[host]
            for i in range(a, b):
                s = secs[i] + d
                m = s // 60
                append(f'{code.join(parts[i])}{minutes[m]}{sec2[s - m * 60]}{fracs[i]}{off_text}"}}\n')
        return out

    def add_garbage(self, out: list[str]) -> None:
        """Insert garbage so that it stays the asked fraction of the lines written so far."""
        self.normal += len(out)
        want = int(self.normal * self.g_ratio) - self.junk
        when = _emitted_at(out[0])
        rng = self.rng
        for _ in range(want):
            code = self.garbage_codes[rng.randrange(len(self.garbage_codes))]
            self.junk += 1
            pos = rng.randrange(len(out) + 1)
            if code == "crlf":  # not garbage: a valid line ending in CRLF
                j = min(pos, len(out) - 1)
                if out[j].endswith('"}\n'):
                    out[j] = out[j][:-1] + "\r\n"
                    self.crlf += 1
                continue
            self.counts[code] = self.counts.get(code, 0) + 1
            out.insert(pos, garbage_line(code, rng.randrange(3), when, self.junk) + "\n")

    def chunks(self, stats: LedgerStats) -> Iterator[tuple[int, bytes]]:
        """The ledger as ``(host, bytes)`` chunks (one per window and host), ``stats`` kept up to date."""
        stats.hosts, stats.replicas, stats.base_lines = self.hosts, self.replicas, self.base_lines
        room = self.lines
        for w in range(len(self.edges) - 1):
            for h in range(self.hosts):
                out = self.render(h, self.edges[w], self.edges[w + 1])
                if not out:
                    continue
                if self.g_ratio:
                    self.add_garbage(out)
                if len(out) > room:
                    del out[room:]
                room -= len(out)
                chunk = "".join(out).encode("utf-8", "surrogateescape")
                stats.lines += len(out)
                stats.bytes += len(chunk)
                stats.first_emitted = stats.first_emitted or _emitted_at(out[0])
                stats.last_emitted = _emitted_at(out[-1])
                stats.garbage = dict(sorted(self.counts.items()))
                stats.crlf = self.crlf
                yield h, chunk
                if room == 0:
                    return
