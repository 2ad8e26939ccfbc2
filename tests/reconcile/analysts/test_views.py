"""The analyst relations (sql/views/*.sql through reconcile._analysts._views) over a small output folder."""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reconcile
from helpers.analyst_fixture import DATA, write_output, write_store
from reconcile._analysts._views import (
    PARAMS,
    connect_output,
    currency_table,
    list_relations,
    parse_params,
    read_relation,
    read_relation_arrow,
)
from reconcile._core._sql import load_sql, sql_root
from reconcile.exceptions import OutputError, UsageError

ROOT = Path(__file__).resolve().parents[3]
RELATIONS = [info.name for info in list_relations()]


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("analysts")
    return write_output(root), write_store(root)


def _slices_csv() -> list[dict[str, str]]:
    with (DATA / "slices.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _dec(text: str) -> Decimal:
    return Decimal(text) if text else Decimal(0)


@pytest.mark.parametrize("name", RELATIONS)
def test_every_relation_runs_and_has_rows(folders: tuple[Path, Path], name: str) -> None:
    """Each relation under sql/views/ runs over the fixture output and store and returns rows."""
    output, store = folders
    frame = read_relation(name, output, store=store)
    assert frame.width > 0
    assert frame.height > 0


def test_relations_are_listed_with_their_header_comments() -> None:
    """list_relations names every SQL file and takes the description from its '-- name: ...' header."""
    files = sorted(p.stem for p in (sql_root() / "views").glob("*.sql"))
    assert sorted(RELATIONS) == files
    for info in list_relations():
        first = info.path.read_text(encoding="utf-8").splitlines()[0]
        assert first == f"-- {info.name}: {info.description}"
        assert len(info.description) > 20


def test_sql_takes_inputs_as_variables_never_pasted_paths() -> None:
    """The SQL files read their folders through getvariable(), with no absolute path written in them."""
    for info in list_relations():
        text = info.path.read_text(encoding="utf-8")
        assert not re.search(r"'/(tmp|home|work|var|Users)\b", text), info.name
        if "read_parquet" in text or "read_json" in text:
            assert "getvariable(" in text, info.name


def test_readme_documents_every_relation_listed() -> None:
    """Every relation `reconcile sql --list` shows is named in the README."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in RELATIONS if f"`{name}`" not in readme]
    assert not missing, f"README lacks: {missing}"


def test_hive_partitions_become_columns(folders: tuple[Path, Path]) -> None:
    """usage_date (DATE) and period (VARCHAR) come from the hive folders and match the rows."""
    output, _ = folders
    slices = read_relation("slices", output)
    assert slices.schema["usage_date"] == pl.Date
    assert sorted(set(slices["usage_date"].cast(pl.String))) == ["2026-10-31", "2026-11-01", "2026-11-02"]
    intervals = read_relation("intervals", output)
    assert intervals.schema["period"] == pl.String
    assert intervals.filter(pl.col("interval_id") == "i-vm1")["period"].sort().to_list() == [
        "2026-10-31",
        "2026-11-01",
    ]
    anomalies = read_relation("anomalies", output)
    assert set(anomalies["period"]) == {"2026-11-01", "2026-11-02"}


def test_instants_keep_their_nanoseconds(folders: tuple[Path, Path]) -> None:
    """A slice ending one nanosecond after 02:00 still does so in the relation (TIMESTAMPTZ_NS)."""
    output, _ = folders
    slices = read_relation("slices", output)
    assert slices.schema["slice_end"] == pl.Datetime("ns", "UTC")
    ends = slices.filter(
        pl.col("interval_id") == "i-vm1", pl.col("usage_date").cast(pl.String) == "2026-11-01"
    )
    stamp = ends["slice_end"].cast(pl.Int64)[0]
    assert stamp % 1_000_000_000 == 1


def test_no_column_of_any_relation_is_a_float(folders: tuple[Path, Path]) -> None:
    """Money and quantities stay DECIMAL in every relation: DuckDB never hands back a DOUBLE column."""
    output, store = folders
    con = connect_output(output, store=store)
    try:
        for name in RELATIONS:
            for column, column_type, *_ in con.execute(f"DESCRIBE {name}").fetchall():
                assert column_type not in ("DOUBLE", "FLOAT", "REAL"), f"{name}.{column} is {column_type}"
                if re.search(
                    r"(amount|cost|price|quantity|total|so_far|affected|inferred|exact|hours)$", column, re.I
                ):
                    assert column_type.startswith("DECIMAL(38,12)"), f"{name}.{column} is {column_type}"
    finally:
        con.close()


def test_missing_output_folder_is_a_clear_error(tmp_path: Path) -> None:
    """A folder that does not exist, or holds no committed run, is an OutputError naming it."""
    with pytest.raises(OutputError, match="does not exist"):
        read_relation("slices", tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(OutputError, match="no committed run"):
        read_relation("slices", tmp_path / "empty")


def test_missing_table_folder_gives_an_empty_relation(folders: tuple[Path, Path], tmp_path: Path) -> None:
    """An output without anomalies/ answers with an empty anomalies relation of the SPEC columns."""
    output, _ = folders
    copy = tmp_path / "output"
    shutil.copytree(output, copy)
    shutil.rmtree(copy / "anomalies")
    anomalies = read_relation("anomalies", copy)
    assert anomalies.height == 0
    assert {"code", "resource_id", "at", "interval_id", "period"} <= set(anomalies.columns)
    assert anomalies.schema["at"] == pl.Datetime("ns", "UTC")
    assert read_relation("anomaly_summary", copy).height == 0
    focus = read_relation("focus", copy)
    assert focus.height == 16
    assert focus["x_AnomalyCodes"].null_count() == 16


def test_rejects_show_only_committed_ingests(folders: tuple[Path, Path]) -> None:
    """Rejects come from the ingests store.json lists (ing1), never from a crashed ingest's file."""
    output, store = folders
    rejects = read_relation("rejects", output, store=store)
    assert set(rejects["ingest_id"]) == {"ing1"}
    assert sorted(rejects["code"]) == ["malformed_json", "unknown_kind"]
    assert read_relation("rejects", output).height == 0  # no store given


def test_runs_come_from_the_manifests(folders: tuple[Path, Path]) -> None:
    """runs has one row per manifest with its period, run_id and cut-off as TIMESTAMPTZ_NS."""
    output, _ = folders
    runs = read_relation("runs", output).sort("period")
    assert runs["period"].to_list() == ["2026-10-31", "2026-11-01", "2026-11-02"]
    assert runs["run_id"].to_list() == ["r1031", "r1101", "r1102"]
    assert runs.schema["cut_off"] == pl.Datetime("ns", "UTC")
    assert str(runs["cut_off"][2]) == "2026-11-03 00:00:00+00:00"


def test_daily_spend_sums_slices_per_day_family_hypervisor_tenant(folders: tuple[Path, Path]) -> None:
    """daily_spend totals equal the fixture's slice amounts, with the hypervisor taken from intervals."""
    output, _ = folders
    daily = read_relation("daily_spend", output)
    hypervisor = {"i-vm1": "firecracker", "i-st1": "firecracker", "i-snap1": "firecracker"}
    hypervisor |= {"i-snap2": "firecracker", "i-vm2": "cloud-hypervisor", "i-vm3": "cloud-hypervisor"}
    hypervisor |= {"i-vm4": "cloud-hypervisor"}
    expected: dict[tuple[str, str, str, str | None, str, str], Decimal] = defaultdict(Decimal)
    for row in _slices_csv():
        key = (
            row["usage_date"],
            row["family"],
            hypervisor[row["interval_id"]],
            row["tenant_id"] or None,
            row["meter"],
            row["currency"],
        )
        expected[key] += Decimal(row["amount"])
    got = {
        (str(r["usage_date"]), r["family"], r["hypervisor"], r["tenant_id"], r["meter"], r["currency"]): r[
            "amount"
        ]
        for r in daily.iter_rows(named=True)
    }
    assert got == dict(expected)
    assert daily.schema["amount"] == pl.Decimal(38, 12)


def test_invoice_lines_round_half_even_once(folders: tuple[Path, Path]) -> None:
    """0.125 USD -> 0.12, 0.135 USD -> 0.14, 2.5 JPY -> 2: half-even on the line's exact sum, once."""
    output, _ = folders
    lines = read_relation("invoice_lines", output)

    def line(tenant: str, meter: str) -> dict[str, object]:
        rows = lines.filter(pl.col("tenant_id") == tenant, pl.col("meter") == meter).to_dicts()
        assert len(rows) == 1
        return rows[0]

    assert line("t3", "vcpu_hours")["amount"] == Decimal("0.12")
    assert line("t3", "vcpu_hours")["amount_minor"] == 12
    assert line("t3", "mem_gib_hours")["amount"] == Decimal("0.14")
    assert line("t9", "storage_gib_hours")["amount"] == Decimal("2")
    assert line("t9", "storage_gib_hours")["minor_unit"] == 0
    # two storage slices of 0.026301369863 and 0.013150684932: summed first (0.039452054795), then rounded
    assert line("t1", "storage_gib_hours")["amount"] == Decimal("0.04")


def test_invoice_lines_match_python_decimal_and_totals_add_up(folders: tuple[Path, Path]) -> None:
    """Each line is Python's half-even quantize of its exact sum; an invoice total is its lines' sum."""
    output, _ = folders
    lines = read_relation("invoice_lines", output)
    sums: dict[tuple[str | None, str, str, str, str], Decimal] = defaultdict(Decimal)
    for row in _slices_csv():
        month = row["usage_date"][:7] + "-01"
        key = (row["tenant_id"] or None, month, row["currency"], row["family"], row["meter"])
        sums[key] += Decimal(row["amount"])
    minor = {"USD": Decimal("0.01"), "JPY": Decimal("1")}
    got = {
        (r["tenant_id"], str(r["invoice_month"]), r["currency"], r["family"], r["meter"]): r["amount"]
        for r in lines.iter_rows(named=True)
    }
    assert got == {k: v.quantize(minor[k[2]], rounding=ROUND_HALF_EVEN) for k, v in sums.items()}
    totals = lines.group_by("tenant_id", "invoice_month", "currency").agg(
        pl.col("amount").sum().alias("lines"), pl.col("invoice_total").unique().alias("totals")
    )
    for row in totals.iter_rows(named=True):
        assert row["totals"] == [row["lines"]]


@settings(max_examples=60, deadline=None)
@given(
    cents=st.lists(
        st.tuples(
            st.sampled_from(["t1", "t2"]),
            st.integers(min_value=-(10**6), max_value=10**6),
            st.sampled_from([0, 5, 50, 500, 499, 501, 5000, 4999999]),
        ),
        min_size=1,
        max_size=12,
    ),
    currency=st.sampled_from(["USD", "JPY", "BHD"]),
)
def test_invoice_lines_half_even_property(cents: list[tuple[str, int, int]], currency: str) -> None:
    """For any slice amounts (ties included, negatives too) a line is the half-even rounding of their sum."""
    amounts = [
        (tenant, Decimal(whole).scaleb(-3) + Decimal(frac).scaleb(-12)) for tenant, whole, frac in cents
    ]
    con = duckdb.connect()
    try:
        con.execute(
            "CREATE TABLE slices (tenant_id VARCHAR, usage_date DATE, currency VARCHAR, family VARCHAR,"
            " meter VARCHAR, quantity DECIMAL(38, 12), billed_quantity DECIMAL(38, 12),"
            " amount DECIMAL(38, 12))"
        )
        con.executemany(
            "INSERT INTO slices VALUES (?, DATE '2026-11-05', ?, 'vm.compute', 'vcpu_hours', 1, 1, ?)",
            [[tenant, currency, amount] for tenant, amount in amounts],
        )
        con.register("currencies", currency_table())
        rows = con.execute(
            "SELECT tenant_id, amount, invoice_total, typeof(amount) FROM ("
            + load_sql("views/usage_lines")
            + ")"
        ).fetchall()
    finally:
        con.close()
    step = {"USD": Decimal("0.01"), "JPY": Decimal(1), "BHD": Decimal("0.001")}[currency]
    expected = defaultdict(Decimal)
    for tenant, amount in amounts:
        expected[tenant] += amount
    assert {t: a for t, a, _, _ in rows} == {
        t: s.quantize(step, rounding=ROUND_HALF_EVEN) for t, s in expected.items()
    }
    assert all(a == total and kind == "DECIMAL(38,12)" for _, a, total, kind in rows)


def test_invoice_lines_reject_an_unknown_currency(tmp_path: Path) -> None:
    """A slice in a currency ISO 4217 does not know is an error, not a silently dropped line."""
    con = duckdb.connect()
    try:
        con.execute(
            "CREATE TABLE slices AS SELECT 't1' AS tenant_id, DATE '2026-11-05' AS usage_date,"
            " 'XXQ' AS currency,"
            " 'vm.compute' AS family, 'vcpu_hours' AS meter, 1::DECIMAL(38, 12) AS quantity,"
            " 1::DECIMAL(38, 12) AS billed_quantity, 1::DECIMAL(38, 12) AS amount"
        )
        con.register("currencies", currency_table())
        with pytest.raises(duckdb.Error, match="XXQ"):
            con.execute(load_sql("views/usage_lines")).fetchall()
    finally:
        con.close()


def test_currency_table_follows_iso4217() -> None:
    """The currency input has USD 2, JPY 0 and BHD 3 minor digits, with exact decimal steps."""
    table = {r["currency"]: r for r in currency_table().to_pylist()}
    assert (table["USD"]["minor_unit"], table["USD"]["minor_step"]) == (2, Decimal("0.01"))
    assert (table["JPY"]["minor_unit"], table["JPY"]["minor_scale"]) == (0, 1)
    assert table["BHD"]["minor_unit"] == 3
    assert "XAU" not in table


def test_anomaly_summary_counts_and_inferred_amounts(folders: tuple[Path, Path]) -> None:
    """Per day and code: counts, and the amount billed on the affected intervals (inferred ones apart)."""
    output, _ = folders
    summary = read_relation("anomaly_summary", output)
    rows = {(str(r["day"]), r["code"]): r for r in summary.iter_rows(named=True)}
    assert set(rows) == {
        ("2026-11-01", "double_start"),
        ("2026-11-01", "double_stop"),
        ("2026-11-02", "shape_mismatch"),
        ("2026-11-02", "orphan_stop"),
    }
    double_start = rows[("2026-11-01", "double_start")]
    assert (double_start["anomalies"], double_start["intervals"]) == (1, 1)
    assert double_start["amount_inferred"] == Decimal("0.135")  # i-vm2: 0.125 vCPU + 0.01 memory
    mismatch = rows[("2026-11-02", "shape_mismatch")]
    assert (mismatch["amount_affected"], mismatch["amount_inferred"]) == (Decimal("0.26"), Decimal(0))
    assert rows[("2026-11-02", "orphan_stop")]["currency"] is None


def test_open_intervals_as_of_the_latest_run(folders: tuple[Path, Path]) -> None:
    """Only intervals open in the latest period, with their age at its cut-off and what they billed."""
    output, _ = folders
    open_ = read_relation("open_intervals", output)
    assert open_["interval_id"].to_list() == ["i-vm3"]  # i-vm1 and i-st1 were open earlier, closed later
    row = open_.row(0, named=True)
    assert row["open_seconds"] == 37 * 3600
    assert row["amount_so_far"] == Decimal("4.995")


def test_top_resources_ranks_by_amount_and_honours_top_n(folders: tuple[Path, Path]) -> None:
    """Resources are ranked per currency by amount; --param top_n limits the rows per currency."""
    output, _ = folders
    top = read_relation("top_resources", output).filter(pl.col("currency") == "USD")
    assert top["resource_id"].to_list()[:2] == ["vm-b", "vm-a"]
    assert top["amount"].to_list() == sorted(top["amount"].to_list(), reverse=True)
    one = read_relation("top_resources", output, params={"top_n": 1})
    assert sorted(one["currency"]) == ["JPY", "USD"]
    assert one.filter(pl.col("currency") == "USD")["amount"][0] == Decimal("5.13")


def test_params_are_checked() -> None:
    """Unknown parameter names and non-integer top_n are usage errors naming the parameter."""
    assert parse_params(["top_n=5", "focus_provider_name=Acme"]) == {
        "top_n": 5,
        "focus_provider_name": "Acme",
    }
    with pytest.raises(UsageError, match="nope"):
        parse_params(["nope=1"])
    with pytest.raises(UsageError, match="top_n"):
        parse_params(["top_n=many"])
    with pytest.raises(UsageError, match="NAME=VALUE"):
        parse_params(["top_n"])
    assert "top_n" in PARAMS


def test_events_show_only_committed_ingests(folders: tuple[Path, Path]) -> None:
    """events reads the committed ingests' events files; a crashed ingest's events never show."""
    output, store = folders
    events = read_relation("events", output, store=store)
    assert set(events["ingest_id"]) == {"ing1"}
    assert events.height == 14
    assert events.schema["emitted_at"] == pl.Datetime("ns", "UTC")
    assert read_relation("events", output).height == 0  # no store given


def test_anomaly_details_join_the_named_interval(folders: tuple[Path, Path]) -> None:
    """Each anomaly carries its interval's latest status, tenants and billed amount (none for stops)."""
    output, _ = folders
    details = read_relation("anomaly_details", output)
    by_code = {r["code"]: r for r in details.iter_rows(named=True)}
    assert set(by_code) == {"double_start", "double_stop", "shape_mismatch", "orphan_stop"}
    assert by_code["double_start"]["interval_status"] == "inferred"
    assert by_code["double_start"]["interval_amount"] == Decimal("0.135")
    assert by_code["double_start"]["tenants"] == "t2"
    assert by_code["shape_mismatch"]["interval_amount"] == Decimal("0.26")
    assert by_code["orphan_stop"]["interval_amount"] is None
    assert details["at"].is_sorted()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    summary = reconcile.demo(tmp_path_factory.mktemp("views_demo") / "demo", quiet=True)
    return Path(summary.output), Path(summary.store)


@pytest.mark.slow
def test_every_relation_runs_on_the_demo_output(demo: tuple[Path, Path]) -> None:
    """Every listed relation runs on `reconcile demo`'s output and store, with no float column."""
    output, store = demo
    con = connect_output(output, store=store)
    try:
        for name in RELATIONS:
            types = [t for _, t, *_ in con.execute(f"DESCRIBE {name}").fetchall()]
            assert "DOUBLE" not in types, name
            rows = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
            assert rows > 0 or name in {"rejects", "closes", "issued_lines", "issued_slices"}, (
                name
            )  # none closed
    finally:
        con.close()


@pytest.mark.slow
def test_demo_invoice_lines_agree_with_the_pricing_stage(demo: tuple[Path, Path]) -> None:
    """The SQL invoice lines equal reconcile.invoice_lines (the pricing stage's own) on the demo slices."""
    output, _ = demo
    mine = read_relation("invoice_lines", output)
    slices = read_relation_arrow("slices", output)
    theirs = pl.from_arrow(reconcile.invoice_lines(slices))
    assert isinstance(theirs, pl.DataFrame)
    key = ["tenant_id", "family", "meter", "currency"]
    got = {tuple(r[k] for k in key): r["amount"] for r in mine.iter_rows(named=True)}
    want = {tuple(r[k] for k in key): r["amount"] for r in theirs.iter_rows(named=True)}
    assert got == want
    # each invoice (tenant, month, currency) totals its own rounded lines, exactly
    invoices = mine.group_by("tenant_id", "invoice_month", "currency").agg(
        pl.col("amount").sum().alias("lines"), pl.col("invoice_total").unique().alias("totals")
    )
    assert invoices.height > 1  # the demo has several tenants
    for row in invoices.iter_rows(named=True):
        assert row["totals"] == [row["lines"]], row


def test_a_stale_interval_reported_by_several_runs_is_one_anomaly(tmp_path: Path) -> None:
    """stale_open, reported by every day run that finds it stale (with that day's age in its detail),
    is one row in anomaly_details and counts once in anomaly_summary."""
    from helpers.run_fixture import PRICES, ev, make_store  # noqa: PLC0415

    store = make_store(
        tmp_path / "store", [ev("vm.compute.start", "vm-1", "2026-11-20T10:00:00Z", cpu=1, reason="boot")]
    )
    for day in ("2026-11-22", "2026-11-23", "2026-11-24"):
        reconcile.run_period(
            store, PRICES, tmp_path / "out", day, stale_after="1d", quiet=True, now=10**19 // 5
        )
    details = read_relation("anomaly_details", tmp_path / "out")
    assert details["code"].to_list() == ["stale_open"]
    assert "open for 396000000000000 ns" in details["detail"][0]  # as of the latest run (11-24's end)
    summary = read_relation("anomaly_summary", tmp_path / "out")
    assert summary["anomalies"].to_list() == [1]


def test_empty_base_relations_have_the_engines_column_types(tmp_path: Path) -> None:
    """A base relation standing in for a missing folder has the types a real run writes (SPEC columns)."""
    from helpers.run_fixture import GIB, PRICES, ev, make_store  # noqa: PLC0415

    store = make_store(
        tmp_path / "store",
        [
            ev("vm.storage.start", "vm-1", "2026-11-20T10:00:00Z", storage=GIB, reason="boot"),
            ev("vm.compute.stop", "vm-2", "2026-11-20T11:00:00Z", reason="stop-user"),
        ],
    )
    out = tmp_path / "out"
    reconcile.run_period(store, PRICES, out, "2026-11-20", quiet=True, now=10**19 // 5)
    real = connect_output(out)
    bare = tmp_path / "bare"
    shutil.copytree(out / "manifests", bare / "manifests")
    for file in bare.glob("manifests/*/manifest.json"):  # (as written before the files were recorded)
        document = json.loads(file.read_text())
        del document["files"], document["rows"]
        file.write_text(json.dumps(document))
    empty = connect_output(bare)
    try:
        for name in ("slices", "intervals", "anomalies"):
            want = {c: t for c, t, *_ in real.execute(f"DESCRIBE {name}").fetchall()}
            got = {c: t for c, t, *_ in empty.execute(f"DESCRIBE {name}").fetchall()}
            assert {c: want[c] for c in got} == got, name
    finally:
        real.close()
        empty.close()
