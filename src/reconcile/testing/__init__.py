"""Seeded, realistic fleet ledgers: for the demo, the benchmarks, and tests (yours too).

Import it in tests of code that reads ledgers::

    from reconcile.testing import generate_lines, write_fleet

    lines = generate_lines(lines=1000, seed=42)  # 1,000 ledger lines, as text without "\\n"
    fleet = write_fleet(tmp_path / "ledgers", seed=42)  # host-a/ledger.jsonl, ledger.jsonl.1.gz, ...

Everything here is deterministic for a seed: the same arguments give the same bytes every time (the
only randomness is a seeded :class:`random.Random`; no clock, no hash randomisation, gzip with a fixed
header). Waiting times go through ``math.log``, so another platform's libm could in principle move an
instant by a nanosecond; on one machine and Python the output never changes.

How the generated fleet behaves (SPEC section 1, "How the producer behaves"):

- Each host simulates a population of VMs over the period, one after another, with exponential waiting
  times between lifecycle steps. A VM is created by ``boot`` (``vm.storage.start`` then, a few seconds
  later, ``vm.compute.start``) or by ``clone`` (both starts name the ``source_snapshot_id`` they came
  from). About 10% of VMs *predate metering*: they are already running when the ledger starts, so their
  first line is a stop with no start.
- While running: crash and restart (``vm.compute.stop`` ``stop-crash`` and ``vm.compute.start``
  ``restart`` with the **same** ``emitted_at``); a crash noticed later (a ``stop-crash`` back-dated to
  when the process died, written minutes to hours later, with microsecond precision, then a restart);
  a user stop (``stop-user``), later followed by ``restart`` or ``hibernate-wake``; a restore from one
  of the VM's snapshots (``vm.compute.stop`` ``restore`` if running, then ``vm.storage.stop`` and
  ``vm.storage.start`` at the same instant with different disk sizes, and ``vm.compute.start``
  ``restore`` at that instant, all naming ``source_snapshot_id``); a silent resize (no line: the next
  stop carries a different shape than its start); removal (``stop-user`` then ``vm.storage.stop``
  ``vm-rm`` with ``{}``).
- ``vm.*`` lines carry the VM's whole shape (``cpu``, ``mem_bytes``, ``storage_bytes``), as the sample
  fleet does; some stops carry ``{}`` (a fifth of crash stops, a few percent of the others).
- Snapshots: ``snap.storage.start`` without ``reason`` (an incremental one names its parent in
  ``source_snapshot_id``; a copied one has ``reason`` ``clone``), deleted later with
  ``snap.storage.stop`` ``snap-rm`` and ``{}``. Snapshots that predate metering appear only as a
  ``snap-rm`` stop.
- Lost lines (a crash between the database commit and the emit): each start and each stop is lost with
  probability 0.05%, giving orphan stops, double stops and double starts (~0.1% of lines). Starts that
  are still open when the ledger ends stay open.
- Several processes append to one file: a line is written a little after its instant (mostly under
  200 ms, sometimes seconds to minutes, rarely up to an hour, and hours for back-dated crash stops), and
  the file is in write order, so it is roughly but not strictly in ``emitted_at`` order.
- Instants have nanosecond precision (Go's clock), so fractions have 9 digits with trailing zeros
  trimmed; restores use millisecond instants and back-dated stops microsecond ones. Each host writes its
  own zone offset (``Z`` for UTC, ``-05:00``, ``+05:30``, ``+09:00``, ...).

Lines are written byte for byte as Go's ``encoding/json`` writes a ``metering.Entry``: field order
``kind, vm_id, snapshot_id, source_snapshot_id, reason, hypervisor, shape, emitted_at``, empty fields
omitted, ``shape`` always present with its non-zero members only, RFC 3339 with trimmed nanoseconds.
Generated ids are plain ASCII and need no escaping.

Garbage lines (for tests and the demo, never by default in :func:`generate_ledger`): each one produces
exactly one SPEC reject code, listed in :data:`GARBAGE_CODES`; ``crlf`` is not garbage but a valid line
ending in ``\\r\\n``.

The fast bulk path (:func:`generate_ledger` for millions of lines): each host simulates a *base block*
of at most a few tens of thousands of lines, and the output is made of *replicas* of those blocks:
each replica is another group of VMs (its own ids) living the same lifecycles shifted by up to half
an hour. Replicas are interleaved window by window so the file stays roughly in time order, and memory
is bounded by the base blocks whatever the number of lines. A 10M-line ledger holds about 590k VMs and
1.4M snapshots (4 hosts x 63 replicas of ~2,300 VMs), ~208 bytes a line.

The modules, one job each: ``_instants`` (RFC 3339 in nanoseconds as Go writes it), ``_catalogue``
(hosts, hypervisors, shapes, disks, lifecycle rates), ``_simulate`` (one host's VMs and snapshots),
``_garbage`` (a line per reject code), ``_bulk`` (base blocks and replicas), ``_ledger`` (the bulk
ledger as a file, chunks or lines), ``_fleet`` (the per-host layout), ``_tenants`` (tenant tables).
``_spark_cluster`` is another kind of double: :class:`StandaloneCluster`, a Spark standalone master
and workers on this machine, to run the Spark engine as a cluster runs it.
The line heads come from the recorder's own encoder (``recorder._wire.line_head``), so generated
lines and ``recorder.Entry.to_line`` cannot drift apart.
"""

from reconcile.testing._bulk import LedgerStats
from reconcile.testing._catalogue import HOST_OFFSETS
from reconcile.testing._fleet import DEFAULT_FLEET_START, FleetHost, FleetInfo, write_fleet
from reconcile.testing._garbage import GARBAGE_CODES, garbage_line
from reconcile.testing._instants import format_instant
from reconcile.testing._ledger import DEFAULT_START, generate_ledger, generate_lines, iter_ledger_chunks
from reconcile.testing._spark_cluster import StandaloneCluster
from reconcile.testing._tenants import write_tenants

__all__ = [
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
]
