"""What the simulated fleet is made of: hosts (zone offsets, names, seeds), hypervisors, machine shapes,
disks, and the rates of the lifecycle steps."""

from __future__ import annotations

import random

from reconcile.testing._instants import DAY, HOUR

GIB = 1 << 30
MIB = 1 << 20

# Zone offsets in seconds, one per host (host i gets HOST_OFFSETS[i % len]).
HOST_OFFSETS: tuple[int, ...] = (
    0,
    -5 * 3600,
    5 * 3600 + 1800,
    9 * 3600,
    8 * 3600,
    3600,
    -8 * 3600,
    -3 * 3600,
)
HYPERVISORS: tuple[str, ...] = ("cloud-hypervisor", "firecracker")

# (cpu, mem GiB, weight): a public-cloud-like catalogue, small machines most common.
SHAPES: tuple[tuple[int, int, int], ...] = (
    (1, 1, 8),
    (1, 2, 10),
    (2, 2, 8),
    (2, 4, 14),
    (2, 8, 8),
    (4, 4, 6),
    (4, 8, 12),
    (4, 16, 8),
    (8, 8, 4),
    (8, 16, 6),
    (8, 32, 5),
    (16, 32, 3),
    (16, 64, 2),
    (32, 128, 1),
)
# (disk GiB, weight)
DISKS_GIB: tuple[tuple[int, int], ...] = (
    (10, 14),
    (20, 20),
    (30, 10),
    (50, 14),
    (100, 10),
    (200, 4),
    (500, 2),
)

# Lifecycle rates, per day.
RATE_CRASH_RESTART = 0.15
RATE_CRASH_LATE = 0.02
RATE_USER_STOP = 0.30
RATE_RESTORE = 0.03
RATE_SNAPSHOT = 0.20
RATE_RESIZE = 0.004
RATE_REMOVE = 0.04
MEAN_OFF = 6 * HOUR  # a stopped VM comes back after this on average
MEAN_SNAPSHOT_LIFE = 5 * DAY
P_PREDATES = 0.10
P_CLONE = 0.15
P_LOST = 0.0005  # each start and each stop line is lost with this probability


def host_offset(host: int) -> int:
    """The zone offset (seconds) host ``host`` writes its instants in."""
    return HOST_OFFSETS[host % len(HOST_OFFSETS)]


def host_name(i: int) -> str:
    """Host ``i``'s name: ``a`` .. ``z``, then ``aa``, ``ab``, ..."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    return letters[i] if i < 26 else f"{letters[i // 26 - 1]}{letters[i % 26]}"


def host_rng(seed: int, host: int) -> random.Random:
    """The random stream host ``host`` simulates its VMs with (the same in the bulk ledger and the fleet)."""
    return random.Random(f"reconcile-generate:{seed}:{host}")  # noqa: S311 (test data, not secrets)
