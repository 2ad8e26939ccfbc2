"""What a family is and what it meters: the one table of families, meters and price units.

SPEC section 1 defines the families of the ledger (a ``kind`` is ``<family>.start`` or
``<family>.stop``) and the field naming each one's resource; SPEC section 4 the meters each family is
billed by. This module is the one place that lists them: a new meter is a :class:`Meter` row in
:data:`CATALOGUE` plus its price in the price book (the unit it is priced in a :class:`Unit` row, if
new). Everything else reads this table:

- the price book (``_pricebook``): the families, their meters, the units a meter's price may be in,
  which units are monthly, and the default prices a book must hold;
- the contracts file (``_contracts``): the same names and each meter's hourly unit;
- pricing (``sql/engine/price/slices.sql``): the relation ``meters`` that :func:`register` puts in a
  connection (the pricing stage's, on both engines: every Spark task builds a ``Pricer``, which
  registers it), joined to each slice by its family: one row per slice and meter, the meter's
  quantity read from the interval's shape column ``shape`` divided by ``unit_bytes``;
- the analysts' ``focus`` relation (``sql/views/focus.sql``): the FOCUS names of families
  (``families``), of consumed units (``meters``) and of pricing units (``pricing_units``), by a join;
- the figures' estimate of the likeliest overflow (``_figures.out_of_range``).

The SQL never holds these names: the relations are Arrow tables registered from this table (values
passed as relations, never pasted into SQL text). Readers look the table up as
``_families.CATALOGUE`` when they run, so a test may replace it for its duration (a meter added in
one place, billed end to end: ``tests/reconcile/core/test_families.py``). The Spark engine's executors
import this module from the build they run, as they import the SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]

SHAPES = ("cpu", "mem_bytes", "storage_bytes")
"""The shape columns of ``events`` and ``intervals`` (SPEC section 2) a meter can read; the SQL maps
each name to its column (``slices.sql``)."""

GIB = 1 << 30


@dataclass(frozen=True)
class Unit:
    """A unit a price is written in (the price book's ``unit``)."""

    name: str  # as the price book and the slices write it: "vCPU-hour"
    monthly: bool  # a price per month of hours_per_month hours (730 by default)
    focus: str  # its FOCUS PricingUnit: "vCPU-Hours"


@dataclass(frozen=True)
class Family:
    """A family of lifecycle endpoints (SPEC section 1): what its resource is, how FOCUS names it."""

    name: str  # "vm.compute": its kinds are "<name>.start" and "<name>.stop"
    id_column: str  # the ledger field naming its resource (the events' resource_id)
    focus_category: str  # FOCUS ServiceCategory
    focus_service: str  # FOCUS ServiceName
    focus_resource_type: str  # FOCUS ResourceType
    focus_subcategory: str  # FOCUS ServiceSubcategory


@dataclass(frozen=True)
class Meter:
    """A meter of a family (SPEC section 4): per slice of ``s`` seconds its quantity is
    ``shape / unit_bytes * s / 3600`` (hours of one unit of the shape), priced per unit of ``units``."""

    family: str
    name: str
    shape: str  # the interval's shape column it reads, one of SHAPES
    unit_bytes: int  # how much of the shape is one unit: 1 (a vCPU), 2^30 (a GiB of bytes)
    units: tuple[str, ...]  # the units its price may be in; the first hourly one is its own hours'
    focus_unit: str  # its FOCUS ConsumedUnit: "vCPU-Hours"


@dataclass(frozen=True)
class Catalogue:
    """The families, their meters and the price units, checked consistent when made."""

    families: tuple[Family, ...]
    meters: tuple[Meter, ...]
    units: tuple[Unit, ...]
    _by_meter: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [f.name for f in self.families]
        units = {u.name for u in self.units}
        problems = [f"family {n!r} is listed twice" for n in sorted({n for n in names if names.count(n) > 1})]
        seen: set[tuple[str, str]] = set()
        by_meter: dict[str, tuple[str, ...]] = {}
        for m in self.meters:
            where = f"meter {m.family} {m.name}"
            if m.family not in names:
                problems.append(f"{where}: unknown family")
            if (m.family, m.name) in seen:
                problems.append(f"{where}: listed twice")
            seen.add((m.family, m.name))
            if m.shape not in SHAPES:
                problems.append(f"{where}: shape {m.shape!r} is not one of {', '.join(SHAPES)}")
            if m.unit_bytes <= 0:
                problems.append(f"{where}: unit_bytes {m.unit_bytes} is not positive")
            problems.extend(f"{where}: unknown unit {u!r}" for u in m.units if u not in units)
            if not any(u in units and not self.unit(u).monthly for u in m.units):
                problems.append(f"{where}: no hourly unit among {m.units}")
            if by_meter.setdefault(m.name, m.units) != m.units:
                problems.append(f"{where}: units {m.units} differ from another family's {by_meter[m.name]}")
        problems.extend(f"family {n}: no meter" for n in names if not any(m.family == n for m in self.meters))
        if problems:
            raise ValueError("families: " + "; ".join(problems))
        object.__setattr__(self, "_by_meter", by_meter)

    def unit(self, name: str) -> Unit:
        """The unit called ``name`` (KeyError when there is none)."""
        for u in self.units:
            if u.name == name:
                return u
        raise KeyError(name)

    @property
    def family_meters(self) -> Mapping[str, tuple[str, ...]]:
        """Each family's meters, in the table's order."""
        return {f.name: tuple(m.name for m in self.meters if m.family == f.name) for f in self.families}

    @property
    def meter_units(self) -> Mapping[str, tuple[str, ...]]:
        """Each meter name's units, in the table's order."""
        return dict(self._by_meter)

    @property
    def unit_names(self) -> tuple[str, ...]:
        """Every unit a price may be written in."""
        return tuple(u.name for u in self.units)

    @property
    def monthly_units(self) -> frozenset[str]:
        """The units priced per month (``hours_per_month``)."""
        return frozenset(u.name for u in self.units if u.monthly)

    def hourly_unit(self, meter: str) -> str:
        """The unit of ``meter``'s own hours (``vCPU-hour``, ``GiB-hour``)."""
        return next(u for u in self._by_meter[meter] if not self.unit(u).monthly)

    def with_meter(self, meter: Meter, *units: Unit) -> Catalogue:
        """This table with ``meter`` (and new ``units``) added."""
        return replace(self, meters=(*self.meters, meter), units=(*self.units, *units))

    def tables(self) -> dict[str, pa.Table]:
        """The relations the SQL reads, by name: ``meters`` (``family, meter, shape, unit_bytes,
        focus_unit``), ``families`` (``family, id_column, focus_category, focus_service,
        focus_resource_type, focus_subcategory``) and ``pricing_units`` (``unit, monthly, focus``)."""
        meters, families, units = self.meters, self.families, self.units
        return {
            "meters": pa.table(
                {
                    "family": pa.array([m.family for m in meters], pa.string()),
                    "meter": pa.array([m.name for m in meters], pa.string()),
                    "shape": pa.array([m.shape for m in meters], pa.string()),
                    "unit_bytes": pa.array([m.unit_bytes for m in meters], pa.int64()),
                    "focus_unit": pa.array([m.focus_unit for m in meters], pa.string()),
                }
            ),
            "families": pa.table(
                {
                    "family": pa.array([f.name for f in families], pa.string()),
                    "id_column": pa.array([f.id_column for f in families], pa.string()),
                    "focus_category": pa.array([f.focus_category for f in families], pa.string()),
                    "focus_service": pa.array([f.focus_service for f in families], pa.string()),
                    "focus_resource_type": pa.array([f.focus_resource_type for f in families], pa.string()),
                    "focus_subcategory": pa.array([f.focus_subcategory for f in families], pa.string()),
                }
            ),
            "pricing_units": pa.table(
                {
                    "unit": pa.array([u.name for u in units], pa.string()),
                    "monthly": pa.array([u.monthly for u in units], pa.bool_()),
                    "focus": pa.array([u.focus for u in units], pa.string()),
                }
            ),
        }


_HOURLY_GIB = ("GiB-hour", "GiB-month")

CATALOGUE = Catalogue(
    families=(
        Family("vm.compute", "vm_id", "Compute", "MicroVM Compute", "Virtual Machine", "Virtual Machines"),
        Family("vm.storage", "vm_id", "Storage", "MicroVM Storage", "Disk", "Block Storage"),
        Family("snap.storage", "snapshot_id", "Storage", "MicroVM Snapshots", "Snapshot", "Backup Storage"),
    ),
    meters=(
        Meter("vm.compute", "vcpu_hours", "cpu", 1, ("vCPU-hour",), "vCPU-Hours"),
        Meter("vm.compute", "mem_gib_hours", "mem_bytes", GIB, _HOURLY_GIB, "GiB-Hours"),
        Meter("vm.storage", "storage_gib_hours", "storage_bytes", GIB, _HOURLY_GIB, "GiB-Hours"),
        Meter("snap.storage", "storage_gib_hours", "storage_bytes", GIB, _HOURLY_GIB, "GiB-Hours"),
    ),
    units=(
        Unit("vCPU-hour", monthly=False, focus="vCPU-Hours"),
        Unit("GiB-hour", monthly=False, focus="GiB-Hours"),
        Unit("GiB-month", monthly=True, focus="GiB-Months"),
    ),
)
"""The families and meters of SPEC sections 1 and 4, and the units their prices are written in."""


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Register :data:`CATALOGUE`'s relations (:meth:`Catalogue.tables`) in ``con``."""
    for name, table in CATALOGUE.tables().items():
        con.register(name, table)
