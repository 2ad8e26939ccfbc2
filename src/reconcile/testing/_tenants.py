"""Tenant attribution tables for generated fleets: the CSV ``reconcile.load_tenants`` reads."""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from reconcile.testing._instants import format_instant, t_ns

_TENANT_NAMES: tuple[str, ...] = (
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark",
    "wayne",
    "tyrell",
    "cyberdyne",
    "soylent",
)


def write_tenants(
    path: str | Path,
    resource_ids: Iterable[str],
    seed: int = 0,
    *,
    tenants: int = 6,
    move_at: datetime | None = None,
    moved: float = 0.05,
    unattributed: float = 0.03,
) -> int:
    """Write a tenant attribution CSV (``resource_id,tenant_id,valid_from,valid_to``) and return its rows.

    Deterministic for ``seed`` and the set of ``resource_ids``. Tenants get resources with skewed
    weights (the first tenant is the largest, as real fleets are). A ``moved`` fraction of resources
    changes tenant at ``move_at`` (two rows, split there; needs ``move_at``), an ``unattributed``
    fraction gets no row at all, so its slices are counted as unattributed. The rest get one row with
    open validity (empty ``valid_from`` and ``valid_to``).
    """
    if not 1 <= tenants <= len(_TENANT_NAMES):
        raise ValueError(f"tenants must be between 1 and {len(_TENANT_NAMES)}, not {tenants}")
    rng = random.Random(f"reconcile-tenants:{seed}")  # noqa: S311 (test data, not secrets)
    names = _TENANT_NAMES[:tenants]
    weights = [1.0 / (rank + 1) for rank in range(tenants)]
    split = "" if move_at is None else format_instant(t_ns(move_at), 0)
    rows = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(["resource_id", "tenant_id", "valid_from", "valid_to"])
        for resource_id in sorted(set(resource_ids)):
            u = rng.random()
            if u < unattributed:
                continue
            first = rng.choices(names, weights)[0]
            if split and u < unattributed + moved and tenants > 1:
                second = rng.choice([name for name in names if name != first])
                out.writerows([[resource_id, first, "", split], [resource_id, second, split, ""]])
                rows += 2
            else:
                out.writerow([resource_id, first, "", ""])
                rows += 1
    return rows
