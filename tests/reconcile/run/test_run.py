"""Running one period: golden numbers, run_id, replacement, cut-offs, month vs days."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from helpers.run_fixture import GIB, PRICES, add_ingest, committed_rows, ev, make_store, output_rows
from reconcile import UsageError, read_output, run_period
from reconcile._core._period import format_ns, parse_instant
from reconcile._engines import _duckdb
from reconcile._price._book import load_price_book
from reconcile._price._invoice import invoice_lines

LATER = parse_instant("2030-01-01T00:00:00Z")  # a clock after every period the tests bill

DAY_25 = [
    ev("vm.compute.start", "vm-1", "2026-11-25T22:00:00Z", cpu=2, mem=GIB, reason="boot"),
    ev("vm.compute.stop", "vm-1", "2026-11-26T02:00:00Z", cpu=2, mem=GIB, reason="stop-user"),
    ev("vm.compute.stop", "vm-2", "2026-11-25T05:00:00Z", reason="stop-user"),
    ev("vm.compute.start", "vm-3", "2026-11-25T10:00:00Z", cpu=1, reason="boot"),
    ev("vm.compute.stop", "vm-3", "2026-11-25T10:00:30Z", cpu=1, reason="stop-user"),
    ev("vm.storage.start", "vm-1", "2026-11-25T00:00:00+02:00", storage=10 * GIB, reason="boot"),
]


def test_day_run_golden(tmp_path: Path) -> None:
    """A day's slices, totals, roles, intervals and anomalies match hand-computed values."""
    store = make_store(tmp_path / "store", DAY_25)
    summary = run_period(store, PRICES, tmp_path / "out", "2026-11-25", quiet=True, now=LATER)
    # events before the cut-off: 3 starts (vm-1 compute, vm-3, vm-1 storage at 22:00Z on the 24th),
    # 1 closing stop (vm-3), 1 unmatched stop (vm-2); vm-1's compute stop is after the cut-off.
    assert summary.roles == {"events": 5, "start": 3, "stop": 1, "unmatched_stop": 1}
    assert summary.intervals == {"closed": 1, "open": 2}
    assert summary.anomalies == {"orphan_stop": 1}
    # (the vCPU price is 0.05 since 2026-11-15T12:00Z)
    # compute vm-1: 2 h x 2 vCPU x 0.05 = 0.20; 2 GiB-h x 0.005 = 0.01
    # compute vm-3: 30 s billed as the 60 s minimum: 1/60 vCPU-h x 0.05 = 0.000833333333
    # storage vm-1 (started 22:00Z the day before): 24 h x 10 GiB / 730 x 0.10 = 0.032876712329
    assert summary.totals_by_family == {
        "vm.compute": {"EUR": "0.210833333333"},
        "vm.storage": {"EUR": "0.032876712329"},
    }
    assert summary.totals_exact == {"EUR": "0.243710045662"}
    # invoice lines round once each: vcpu 0.200833333333 -> 0.20, mem 0.01, storage 0.03
    assert summary.totals == {"EUR": "0.24"}
    assert summary.quantities["vcpu_hours"] == "4.016666666667"
    slices = read_output(tmp_path / "out").slices.collect()
    vm1 = slices.filter((pl.col("resource_id") == "vm-1") & (pl.col("meter") == "vcpu_hours"))
    assert vm1.select("seconds", "quantity", "billed_quantity", "amount", "status").rows() == [
        (Decimal(7200), Decimal(4), Decimal(4), Decimal("0.20"), "open")
    ]
    vm3 = slices.filter((pl.col("resource_id") == "vm-3") & (pl.col("meter") == "vcpu_hours"))
    assert vm3.select("quantity", "billed_quantity", "amount").rows() == [
        (Decimal("0.008333333333"), Decimal("0.016666666667"), Decimal("0.000833333333"))
    ]
    assert set(slices["run_id"]) == {summary.run_id}
    manifest = read_output(tmp_path / "out").manifests["2026-11-25"].to_json()
    assert manifest["run_id"] == summary.run_id
    assert manifest["cut_off"] == "2026-11-26T00:00:00Z"
    assert manifest["price_version"] == load_price_book(PRICES).price_version
    assert manifest["options"] == {
        "double_start": "close",
        "stale_after_ns": None,
        "tenants": None,
        "tenants_sha256": None,
    }
    assert len(manifest["ingests"]) == 1
    for key in ("versions", "roles", "intervals", "anomalies", "totals", "rows"):
        assert key in manifest


def test_no_amount_or_quantity_is_a_float(tmp_path: Path) -> None:
    """Every numeric money or quantity column in the output is a decimal, none a float."""
    store = make_store(tmp_path / "store", DAY_25)
    run_period(store, PRICES, tmp_path / "out", "2026-11-25", quiet=True, now=LATER)
    tables = read_output(tmp_path / "out")
    for frame in (tables.slices, tables.intervals, tables.anomalies):
        schema = frame.collect_schema()
        assert not [c for c, t in schema.items() if t in (pl.Float32, pl.Float64)]
    schema = tables.slices.collect_schema()
    for column in ("quantity", "billed_quantity", "unit_price", "amount"):
        assert schema[column] == pl.Decimal(38, 12)
    assert schema["slice_start"] == pl.Datetime("ns", "UTC")


def test_same_inputs_give_the_same_rows_and_run_id(tmp_path: Path) -> None:
    """Two runs of the same period over the same store write identical rows and run_id."""
    store = make_store(tmp_path / "store", DAY_25)
    first = run_period(store, PRICES, tmp_path / "a", "2026-11-25", quiet=True, now=LATER)
    second = run_period(store, PRICES, tmp_path / "b", "2026-11-25", quiet=True, now=LATER)
    again = run_period(store, PRICES, tmp_path / "a", "2026-11-25", quiet=True, now=LATER)
    assert first.run_id == second.run_id == again.run_id
    assert again.replaced
    assert committed_rows(tmp_path / "a") == committed_rows(tmp_path / "b")


def test_run_id_follows_the_inputs_that_matter(tmp_path: Path) -> None:
    """Later-only ingests keep a day's run_id; earlier events, prices or options change it."""
    store = make_store(tmp_path / "store", DAY_25)
    out = tmp_path / "out"

    def run_id(**options: object) -> str:
        return run_period(store, PRICES, out, "2026-11-25", quiet=True, now=LATER, **options).run_id  # type: ignore[arg-type]

    base = run_id()
    add_ingest(
        store, [ev("vm.compute.start", "vm-9", "2026-11-26T00:00:00Z", cpu=1)], source="late-after.jsonl"
    )
    assert run_id() == base
    add_ingest(
        store, [ev("vm.compute.start", "vm-9", "2026-11-20T00:00:00Z", cpu=1)], source="late-before.jsonl"
    )
    changed = run_id()
    assert changed != base
    assert run_id(double_start="drop") != changed
    assert run_id(stale_after="7d") != changed
    assert run_id() == changed


def test_rerun_replaces_exactly_that_period(tmp_path: Path) -> None:
    """A re-run replaces its day's rows and manifest; the next day's output is untouched."""
    store = make_store(tmp_path / "store", DAY_25)
    out = tmp_path / "out"
    run_period(store, PRICES, out, "2026-11-26", quiet=True, now=LATER)
    first = run_period(store, PRICES, out, "2026-11-25", quiet=True, now=LATER)
    day_26 = read_output(out).slices.filter(pl.col("usage_date") == pl.date(2026, 11, 26)).collect()
    add_ingest(
        store, [ev("vm.storage.stop", "vm-1", "2026-11-25T12:00:00Z", storage=10 * GIB, reason="vm-rm")]
    )
    second = run_period(store, PRICES, out, "2026-11-25", quiet=True, now=LATER)
    assert second.replaced
    assert second.run_id != first.run_id
    assert second.intervals == {"closed": 2, "open": 1}
    tables = read_output(out)
    storage = tables.slices.filter(pl.col("family") == "vm.storage").sort("slice_start").collect()
    # day 25 now bills 00:00-12:00; day 26 (not re-run) still shows the storage open all day
    assert storage["seconds"].to_list() == [Decimal(12 * 3600), Decimal(24 * 3600)]
    assert set(tables.slices.filter(pl.col("usage_date") == pl.date(2026, 11, 25)).collect()["run_id"]) == {
        second.run_id
    }
    assert tables.slices.filter(pl.col("usage_date") == pl.date(2026, 11, 26)).collect().equals(day_26)
    assert tables.manifests["2026-11-25"].run_id == second.run_id


def test_a_period_not_ended_needs_an_earlier_cut_off(tmp_path: Path) -> None:
    """Without a cut-off an unended day is a usage error; with one, open intervals bill up to it."""
    store = make_store(tmp_path / "store", DAY_25)
    noon = parse_instant("2026-11-25T12:00:00Z")
    with pytest.raises(UsageError, match="has not ended"):
        run_period(store, PRICES, tmp_path / "out", "2026-11-25", quiet=True, now=noon)
    summary = run_period(
        store,
        PRICES,
        tmp_path / "out",
        "2026-11-25",
        cut_off="2026-11-25T07:00:00+01:00",
        quiet=True,
        now=noon,
    )
    assert summary.cut_off == "2026-11-25T06:00:00Z"
    assert summary.roles["events"] == 2  # the storage start and vm-2's stop
    storage = read_output(tmp_path / "out").slices.filter(pl.col("family") == "vm.storage").collect()
    assert storage.select("seconds", "status").rows() == [(Decimal(6 * 3600), "open")]


def test_stale_open_is_reported_by_every_run_that_finds_it_stale(tmp_path: Path) -> None:
    """With stale_after, an interval open too long at the cut-off is a stale_open anomaly of that run."""
    store = make_store(tmp_path / "store", DAY_25)
    out = tmp_path / "out"
    day_25 = run_period(store, PRICES, out, "2026-11-25", stale_after="90m", quiet=True, now=LATER)
    day_26 = run_period(store, PRICES, out, "2026-11-26", stale_after="90m", quiet=True, now=LATER)
    assert day_25.anomalies == {"orphan_stop": 1, "stale_open": 2}  # vm-1 compute (2 h) and storage (26 h)
    assert day_26.anomalies == {"stale_open": 1}  # the compute interval closed at 02:00 on the 26th
    stale = read_output(out).anomalies.filter(pl.col("code") == "stale_open").collect()
    assert sorted(stale.select("period", "family").rows()) == [
        ("2026-11-25", "vm.compute"),
        ("2026-11-25", "vm.storage"),
        ("2026-11-26", "vm.storage"),
    ]
    storage_at = stale.filter(pl.col("family") == "vm.storage")["at_ns"].unique().to_list()
    assert storage_at == [parse_instant("2026-11-24T22:00:00Z")]  # about the open start


def test_tenants_attribute_slices_and_enter_the_run_id(tmp_path: Path) -> None:
    """A tenants file sets tenant_id, counts unattributed slices and changes run_id."""
    store = make_store(tmp_path / "store", DAY_25)
    tenants = tmp_path / "tenants.csv"
    tenants.write_text(
        "resource_id,tenant_id,valid_from,valid_to\nvm-1,acme,,2026-11-25T23:00:00Z\nvm-3,globex,,\n"
    )
    plain = run_period(store, PRICES, tmp_path / "a", "2026-11-25", quiet=True, now=LATER)
    summary = run_period(store, PRICES, tmp_path / "b", "2026-11-25", tenants=tenants, quiet=True, now=LATER)
    assert summary.run_id != plain.run_id
    slices = read_output(tmp_path / "b").slices.collect()
    compute = slices.filter((pl.col("resource_id") == "vm-1") & (pl.col("meter") == "vcpu_hours")).sort(
        "slice_start"
    )
    assert compute["tenant_id"].to_list() == ["acme", None]  # cut at the tenant change at 23:00
    assert summary.unattributed_slices == slices.filter(pl.col("tenant_id").is_null()).height > 0
    assert read_output(tmp_path / "b").manifests["2026-11-25"].inputs.options.tenants_sha256


def _random_fleet(seed: int) -> list[dict[str, object]]:
    """Seeded events over late October to early December: crossings, double starts, orphans, storage."""
    rng = random.Random(seed)
    start = parse_instant("2026-10-29T00:00:00Z") // 10**9
    end = parse_instant("2026-12-02T00:00:00Z") // 10**9
    events: list[dict[str, object]] = []
    for n in range(24):
        family = rng.choice(["vm.compute", "vm.compute", "vm.storage", "snap.storage"])
        rid = f"r-{n}"
        t = rng.randrange(start, end)
        for _ in range(rng.randint(1, 6)):
            endpoint = rng.choice(["start", "start", "stop"])
            shape = (
                {"cpu": rng.randint(1, 8), "mem": rng.randint(1, 16) * GIB} if family == "vm.compute" else {}
            )
            if family != "vm.compute":
                shape = {"storage": rng.randint(1, 500) * GIB}
            text = format_ns(t * 10**9 + rng.choice([0, rng.randrange(10**9)]))
            events.append(ev(f"{family}.{endpoint}", rid, text, **shape))  # type: ignore[arg-type]
            t += rng.choice([0, 30, 3600, 86400 - 1, 86400 * 3, rng.randrange(1, 86400 * 5)])
    return events


@pytest.mark.slow
def test_month_and_its_days_give_the_same_invoice(tmp_path: Path) -> None:
    """A month run and its 30 day runs give the same invoice lines (to the cent) and quantities."""
    store = make_store(tmp_path / "store", _random_fleet(11))
    month = run_period(store, PRICES, tmp_path / "month", "2026-11", quiet=True, now=LATER)
    days = [
        run_period(store, PRICES, tmp_path / "days", f"2026-11-{d:02d}", quiet=True, now=LATER)
        for d in range(1, 31)
    ]
    month_slices = read_output(tmp_path / "month").slices.collect()
    day_slices = read_output(tmp_path / "days").slices.collect()
    assert month_slices.height > 100
    keys = ["tenant_id", "month", "family", "meter", "currency"]
    month_lines = pl.from_arrow(invoice_lines(month_slices.to_arrow())).sort(keys)  # type: ignore[union-attr]
    day_lines = pl.from_arrow(invoice_lines(day_slices.to_arrow())).sort(keys)  # type: ignore[union-attr]
    assert month_lines.equals(day_lines)
    assert sum(Decimal(d.totals_exact["EUR"]) for d in days) == Decimal(month.totals_exact["EUR"])
    for meter, quantity in month.quantities.items():
        assert sum(Decimal(d.quantities.get(meter, "0")) for d in days) == Decimal(quantity)
    per_slice = ["interval_id", "meter", "slice_start", "slice_end", "quantity", "billed_quantity", "amount"]
    assert month_slices.select(per_slice).sort(per_slice).equals(day_slices.select(per_slice).sort(per_slice))


def test_a_month_written_a_day_at_a_time_equals_it_written_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A month run whose every day is its own chunk (priced, written and summed before the next,
    as a large month is) commits the rows, run_id and manifest figures of one chunk for the month."""
    store = make_store(tmp_path / "store", _random_fleet(7))
    whole = run_period(store, PRICES, tmp_path / "whole", "2026-11", quiet=True, now=LATER)
    monkeypatch.setattr(_duckdb, "CHUNK_INTERVALS", 1)
    daily = run_period(store, PRICES, tmp_path / "daily", "2026-11", quiet=True, now=LATER)
    assert daily.run_id == whole.run_id
    assert output_rows(tmp_path / "daily") == output_rows(tmp_path / "whole")
    assert read_output(tmp_path / "daily").slices.collect().height > 100


def test_manifest_decimals_are_plain_decimal_strings(tmp_path: Path) -> None:
    """Totals and quantities in the manifest are fixed-point strings, never `0E-12` or `1.9E-8`."""
    store = make_store(
        tmp_path / "store",
        [
            # 1 GiB of snapshot for 1 s: 1/3600 GiB-h, 0.000277777778 / 730 x 0.05 = 0.000000019026
            ev("snap.storage.start", "snap-1", "2026-11-21T10:00:00Z", storage=GIB),
            ev("snap.storage.stop", "snap-1", "2026-11-21T10:00:01Z", storage=GIB),
        ],
    )
    quiet = run_period(store, PRICES, tmp_path / "out", "2026-11-20", quiet=True, now=LATER)
    tiny = run_period(store, PRICES, tmp_path / "out", "2026-11-21", quiet=True, now=LATER)
    assert quiet.totals_exact == {"EUR": "0.000000000000"}
    assert quiet.totals == {"EUR": "0.00"}
    assert tiny.totals_by_family == {"snap.storage": {"EUR": "0.000000019026"}}
    assert tiny.totals_exact == {"EUR": "0.000000019026"}
    assert tiny.quantities == {"storage_gib_hours": "0.000277777778"}
    on_disk = read_output(tmp_path / "out").manifests["2026-11-21"].to_json()
    assert on_disk["totals_by_family"] == tiny.totals_by_family
    assert on_disk["quantities"] == tiny.quantities
