"""A damaged store or output never becomes a bill: each file kind, damaged each way (truncated,
rewritten with fewer rows, bytes flipped, deleted), ends in one `error:` line naming the file and
exit 1, or in the documented recovery (a checkpoint passed over), and `reconcile verify` finds it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.damage import DAMAGES, FOOTER_DAMAGES, copy_tree, fewer_rows, flip, truncate
from reconcile._cli import main

DAY = "2026-11-20"  # a day of the demo's output


@pytest.fixture(scope="session")
def month_root(tmp_path_factory: pytest.TempPathFactory, demo_root: Path) -> Path:
    """The demo's store run as one month (November 2026) into an output folder of months."""
    root = tmp_path_factory.mktemp("months")
    code = main(["--quiet", *run_args(demo_root, root / "months", "2026-11")])
    assert code == 0
    return root / "months"


def run_args(root: Path, out: Path, period: str) -> list[str]:
    """`reconcile run` of the demo's store with its tenants."""
    return [
        "run",
        "--store",
        str(root / "store"),
        "--prices",
        "bundled",
        "--tenants",
        str(root / "tenants.csv"),
        "--output",
        str(out),
        "--period",
        period,
    ]


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, list[str]]:
    """Exit code, stdout and the `error:` lines on stderr of one in-process command."""
    capsys.readouterr()
    code = main(["--quiet", *args])
    out, err = capsys.readouterr()
    return code, out, [line for line in err.splitlines() if line.startswith("error:")]


def one_damage_line(errors: list[str], path: Path) -> None:
    """Exactly one error line, naming the damaged file and what was expected and found."""
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"error: damaged file {path}: expected "), errors[0]
    assert ", found " in errors[0]


def manifest(out: Path, period: str) -> dict[str, object]:
    return json.loads((out / "manifests" / f"period={period}" / "manifest.json").read_text())  # type: ignore[no-any-return]


# --- the store ------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", list(DAMAGES))
def test_a_damaged_events_file_stops_the_run(
    capsys: pytest.CaptureFixture[str], demo: Path, how: str
) -> None:
    """An events file truncated, with rows fewer, flipped or deleted: the run of its day stops with one
    line naming it (never a bill from other events under the correct bill's run_id); nothing is
    committed, and verify names it with the day it affects."""
    events = next((demo / "store" / "events" / "day=2026-11-22").glob("*.parquet"))
    DAMAGES[how](events)
    code, _, errors = cli(capsys, *run_args(demo, demo / "again", "2026-11-22"))
    assert code == 1
    one_damage_line(errors, events)
    assert not (demo / "again" / "manifests").exists()
    code, out, _ = cli(capsys, "verify", "--store", str(demo / "store"), "--output", str(demo / "output"))
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{events}: damaged events file of ingest ")
    assert "affects day 2026-11-22" in lines[0]
    assert lines[1].endswith("1 damaged")


@pytest.mark.parametrize("how", ["truncate", "fewer_rows", "delete"])
def test_a_damaged_rejects_file_stops_its_readers(
    capsys: pytest.CaptureFixture[str], demo: Path, how: str
) -> None:
    """A rejects file damaged: `sql rejects` stops with one line naming it."""
    rejects = next((demo / "store" / "rejects").glob("*.parquet"))
    DAMAGES[how](rejects) if how != "fewer_rows" else fewer_rows(rejects, 1)
    code, _, errors = cli(
        capsys, "sql", "rejects", "--store", str(demo / "store"), "--output", str(demo / "output")
    )
    assert code == 1
    one_damage_line(errors, rejects)


@pytest.mark.parametrize(
    ("name", "how"),
    [("open.parquet", h) for h in DAMAGES] + [("seen.parquet", "flip"), ("seen.parquet", "delete")],
)
def test_a_damaged_checkpoint_is_passed_over_with_the_same_bill(
    capsys: pytest.CaptureFixture[str], demo: Path, name: str, how: str
) -> None:
    """A checkpoint file damaged any way: the run falls back to an older checkpoint (here: the start),
    says so in one warning naming the file, and bills exactly what the undamaged store bills (same
    run_id, same totals); the damaged checkpoint is removed and rewritten."""
    path = demo / "store" / "checkpoints" / "at=2026-11-23" / name
    DAMAGES[how](path)
    capsys.readouterr()
    code = main(["--quiet", *run_args(demo, demo / "again", "2026-11-24")])
    err = capsys.readouterr().err
    assert code == 0
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, err
    assert warnings[0].startswith(f"warning: {path}: damaged checkpoint file (expected ")
    assert "walking from an older checkpoint instead" in warnings[0]
    clean = manifest(demo / "output", "2026-11-24")
    again = manifest(demo / "again", "2026-11-24")
    assert (again["run_id"], again["totals"]) == (clean["run_id"], clean["totals"])
    code, out, _ = cli(capsys, "verify", "--store", str(demo / "store"))
    assert code == 0, out


def test_a_damaged_delta_checkpoint_falls_back_to_its_base(
    capsys: pytest.CaptureFixture[str], demo: Path
) -> None:
    """The seen delta of the checkpoint at 2026-11-25 cut short: a run of 2026-11-25 starts from the
    checkpoint at 2026-11-23 instead, with the bill an undamaged store gives."""
    clean = demo / "clean"
    copy_tree(demo / "store", clean / "store")
    shutil.copy(demo / "tenants.csv", clean / "tenants.csv")
    assert main(["--quiet", *run_args(clean, clean / "out", "2026-11-25")]) == 0
    truncate(demo / "store" / "checkpoints" / "at=2026-11-25" / "seen_delta.parquet")
    code, _, errors = cli(capsys, *run_args(demo, demo / "again", "2026-11-25"))
    assert (code, errors) == (0, [])
    want, got = manifest(clean / "out", "2026-11-25"), manifest(demo / "again", "2026-11-25")
    assert (got["run_id"], got["totals"]) == (want["run_id"], want["totals"])


def test_an_older_checkpoint_that_does_not_decode_is_passed_over(
    capsys: pytest.CaptureFixture[str], demo: Path
) -> None:
    """A checkpoint written before records were kept, its first page flipped: its copy does not decode,
    so it is passed over, named by its own path (not the copy's), with the same bill."""
    folder = demo / "store" / "checkpoints" / "at=2026-11-23"
    document = json.loads((folder / "checkpoint.json").read_text())
    del document["files"], document["store_files"]
    (folder / "checkpoint.json").write_text(json.dumps(document))
    data = bytearray((folder / "open.parquet").read_bytes())
    for i in range(4, 404):
        data[i] ^= 0xFF
    (folder / "open.parquet").write_bytes(bytes(data))
    code = main(["--quiet", *run_args(demo, demo / "again", "2026-11-24")])
    err = capsys.readouterr().err
    assert code == 0
    assert err.startswith(
        f"warning: {folder / 'open.parquet'}: damaged checkpoint file (expected a Parquet file"
    )
    clean, again = manifest(demo / "output", "2026-11-24"), manifest(demo / "again", "2026-11-24")
    assert (again["run_id"], again["totals"]) == (clean["run_id"], clean["totals"])


def test_checkpoints_calls_a_damaged_one_invalid(capsys: pytest.CaptureFixture[str], demo: Path) -> None:
    """`reconcile checkpoints` shows a checkpoint with rows fewer than it records as INVALID (damaged)."""
    fewer_rows(demo / "store" / "checkpoints" / "at=2026-11-23" / "open.parquet", 10)
    code, out, _ = cli(capsys, "checkpoints", "--store", str(demo / "store"))
    assert code == 0
    row = next(line for line in out.splitlines() if "2026-11-23" in line)
    assert "INVALID (damaged: open.parquet: expected " in row


def test_verify_finds_what_no_reader_reads_by_hash(capsys: pytest.CaptureFixture[str], demo: Path) -> None:
    """Damage only a scrub sees: a rejects file with flipped bytes (read by footer), an ingest record
    and a checkpoint document made unreadable: verify names all three, and a run still bills as before."""
    store = demo / "store"
    rejects = next((store / "rejects").glob("*.parquet"))
    record = next((store / "ingests").glob("*.json"))
    document = store / "checkpoints" / "at=2026-11-25" / "checkpoint.json"
    flip(rejects)
    record.write_text("{")
    document.write_text("")
    code, report, _ = cli(capsys, "verify", "--store", str(store), "--json")
    assert code == 1
    kinds = {Path(d["path"]): d["kind"] for d in json.loads(report)["damage"]}
    assert kinds[rejects].startswith("rejects file of ingest ")
    assert kinds[record].startswith("ingest record of ")
    assert kinds[document] == "checkpoint"
    assert len(kinds) == 3
    code, _, errors = cli(capsys, *run_args(demo, demo / "again", "2026-11-24"))
    assert (code, errors) == (0, [])
    assert (
        manifest(demo / "again", "2026-11-24")["run_id"] == manifest(demo / "output", "2026-11-24")["run_id"]
    )


def test_an_unreadable_store_catalog_is_one_line(capsys: pytest.CaptureFixture[str], demo: Path) -> None:
    """store.json with flipped bytes: one line naming it, exit 1."""
    flip(demo / "store" / "store.json")
    code, _, errors = cli(capsys, *run_args(demo, demo / "again", DAY))
    assert code == 1
    assert len(errors) == 1
    assert errors[0].startswith(f"error: cannot read {demo / 'store' / 'store.json'}: ")


# --- the output -----------------------------------------------------------------------------------

TABLE_FILES = {
    "slices": f"slices/usage_date={DAY}/data_0.parquet",
    "intervals": f"intervals/period={DAY}/data_0.parquet",
    "anomalies": f"anomalies/period={DAY}/data_0.parquet",
}


@pytest.mark.parametrize("how", list(DAMAGES))
@pytest.mark.parametrize("table", list(TABLE_FILES))
def test_a_damaged_output_file_stops_export_and_report(
    capsys: pytest.CaptureFixture[str], demo: Path, table: str, how: str
) -> None:
    """Each output file damaged each way: `export focus` and `report` of its period stop with one line
    naming it (they read it in full, so a flip is caught by its hash); nothing is written."""
    path = demo / "output" / TABLE_FILES[table]
    DAMAGES[how](path)
    out = str(demo / "output")
    code, _, errors = cli(
        capsys, "export", "focus", "--output", out, "--period", DAY, "--to", str(demo / "f.csv")
    )
    assert code == 1
    one_damage_line(errors, path)
    code, _, errors = cli(capsys, "report", "--output", out, "--period", DAY, "--to", str(demo / "r.html"))
    assert code == 1
    one_damage_line(errors, path)
    assert sorted(p.name for p in demo.iterdir()) == ["output", "store", "tenants.csv"]


@pytest.mark.parametrize("how", FOOTER_DAMAGES)
def test_the_analysts_views_check_every_file_by_its_footer(
    capsys: pytest.CaptureFixture[str], demo: Path, how: str
) -> None:
    """`reconcile sql` over the whole folder: a file truncated, with rows fewer or gone is one line."""
    path = demo / "output" / TABLE_FILES["slices"]
    DAMAGES[how](path)
    code, _, errors = cli(capsys, "sql", "invoice_lines", "--output", str(demo / "output"))
    assert code == 1
    one_damage_line(errors, path)


def test_a_flipped_file_a_query_cannot_decode_is_named(
    capsys: pytest.CaptureFixture[str], demo: Path
) -> None:
    """Bytes flipped where DuckDB notices (a page header): the line names the damaged file, not
    DuckDB's own words."""
    path = demo / "output" / TABLE_FILES["slices"]
    data = bytearray(path.read_bytes())
    for i in range(4, 404):  # the first page's header and data
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    code, _, errors = cli(capsys, "sql", "daily_spend", "--output", str(demo / "output"))
    assert code == 1
    one_damage_line(errors, path)


@pytest.mark.parametrize("how", list(DAMAGES))
def test_close_never_freezes_a_damaged_month(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, month_root: Path, how: str
) -> None:
    """A month run's day of slices damaged (the issue's case: one day deleted): `close` refuses with one
    line naming it, and nothing is frozen."""
    out = copy_tree(month_root, tmp_path / "months")
    path = out / "slices" / "usage_date=2026-11-21" / "data_0.parquet"
    DAMAGES[how](path)
    code, _, errors = cli(capsys, "close", "2026-11", "--output", str(out))
    assert code == 1
    one_damage_line(errors, path)
    assert not (out / "closed").exists()


@pytest.mark.parametrize("how", list(DAMAGES))
def test_a_closed_months_issued_lines_damaged_stop_its_readers(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, month_root: Path, how: str
) -> None:
    """A closed month's issued lines damaged: its FOCUS export (which hashes them) stops with one line,
    and verify names the closed month it affects."""
    out = copy_tree(month_root, tmp_path / "months")
    assert cli(capsys, "close", "2026-11", "--output", str(out))[0] == 0
    issued = out / "closed" / "month=2026-11" / "issued_lines.parquet"
    DAMAGES[how](issued) if how != "fewer_rows" else fewer_rows(issued, 1)
    code, _, errors = cli(
        capsys,
        "export",
        "focus",
        "--output",
        str(out),
        "--period",
        "2026-11",
        "--to",
        str(tmp_path / "f.csv"),
    )
    assert code == 1
    one_damage_line(errors, issued)
    code, report, _ = cli(capsys, "verify", "--output", str(out))
    assert code == 1
    assert report.splitlines()[0].startswith(f"{issued}: damaged issued file of closed month 2026-11:")


@pytest.mark.parametrize("how", ["flip", "delete"])
def test_diff_checks_both_versions(capsys: pytest.CaptureFixture[str], demo: Path, how: str) -> None:
    """The replaced version of a bill damaged: `diff` stops with one line naming the kept file."""
    out = str(demo / "output")
    assert main(["--quiet", *run_args(demo, demo / "output", DAY), "--stale-after", "7d"]) == 0
    kept = (
        demo
        / "output"
        / "history"
        / f"period={DAY}"
        / "version=1"
        / "slices"
        / f"usage_date={DAY}"
        / "data_0.parquet"
    )
    DAMAGES[how](kept)
    code, _, errors = cli(capsys, "diff", "--output", out, "--period", DAY)
    assert code == 1
    one_damage_line(errors, kept)


def test_a_file_no_manifest_lists_is_refused(capsys: pytest.CaptureFixture[str], demo: Path) -> None:
    """A stray copy beside a period's file (it would be counted twice by every reader): refused."""
    folder = demo / "output" / "slices" / f"usage_date={DAY}"
    shutil.copy(folder / "data_0.parquet", folder / "data_0 (copy).parquet")
    code, _, errors = cli(capsys, "sql", "daily_spend", "--output", str(demo / "output"))
    assert code == 1
    assert len(errors) == 1
    assert errors[0].startswith(f"error: damaged file {folder / 'data_0 (copy).parquet'}: expected no file")


def test_a_damaged_manifest_or_journal_is_one_line(capsys: pytest.CaptureFixture[str], demo: Path) -> None:
    """A manifest with flipped bytes, then a commit journal holding `{}`: one line each, exit 1."""
    out = demo / "output"
    manifest_file = out / "manifests" / f"period={DAY}" / "manifest.json"
    original = manifest_file.read_bytes()
    flip(manifest_file)
    code, _, errors = cli(capsys, "sql", "runs", "--output", str(out))
    assert code == 1
    assert len(errors) == 1
    assert errors[0].startswith(f"error: {manifest_file}: unreadable manifest: ")
    manifest_file.write_bytes(original)
    (out / ".journal.json").write_text("{}")
    for args in (["sql", "runs", "--output", str(out)], run_args(demo, out, DAY)):
        code, _, errors = cli(capsys, *args)
        assert code == 1
        assert len(errors) == 1
        assert errors[0].startswith(
            f"error: {out / '.journal.json'}: damaged commit journal (no token or list of swaps)"
        )


def test_verify_lists_every_damaged_file_once(capsys: pytest.CaptureFixture[str], demo: Path) -> None:
    """A clean store and output verify with exit 0; four files damaged in four ways verify with exit 1
    and one line each, naming the file and what it affects."""
    store, out = demo / "store", demo / "output"
    code, report, _ = cli(capsys, "verify", "--store", str(store), "--output", str(out))
    assert code == 0, report
    assert report.strip().endswith(", 0 damaged")
    damaged = {
        next((store / "events" / "day=2026-11-19").glob("*.parquet")): ("flip", "affects day 2026-11-19"),
        store / "checkpoints" / "at=2026-11-25" / "open.parquet": ("truncate", "affects nothing billed"),
        out / TABLE_FILES["intervals"]: ("fewer_rows", f"affects period {DAY} (bill version 1, run "),
        out / TABLE_FILES["anomalies"]: ("delete", f"affects period {DAY}"),
    }
    for path, (how, _) in damaged.items():
        DAMAGES[how](path)
    code, report, errors = cli(capsys, "verify", "--store", str(store), "--output", str(out), "--json")
    assert code == 1
    assert errors == ["error: 4 damaged file(s), listed above"]
    found = {Path(d["path"]): d for d in json.loads(report)["damage"]}
    assert set(found) == set(damaged)
    for path, (_, affects) in damaged.items():
        assert affects in f"affects {found[path]['affects']}"


# --- older stores and outputs, without records ---------------------------------------------------


def _strip_store_records(store: Path) -> None:
    catalog = json.loads((store / "store.json").read_text())
    for entry in catalog["ingests"]:
        del entry["files"]
    (store / "store.json").write_text(json.dumps(catalog))


def test_an_older_store_reads_by_footers_and_is_recorded_at_its_next_ingest(
    capsys: pytest.CaptureFixture[str], demo: Path, demo_root: Path
) -> None:
    """A store written before records were kept runs as before (checked by footers: verify says how
    many), and its next ingest records every file; one whose day files lost rows is refused then."""
    store = demo / "store"
    _strip_store_records(store)
    assert cli(capsys, *run_args(demo, demo / "again", DAY))[0] == 0
    code, report, _ = cli(capsys, "verify", "--store", str(store))
    assert code == 0
    assert "from before records were kept: footers only" in report
    damaged = copy_tree(store, demo / "damaged")
    assert cli(capsys, "ingest", str(demo_root / "ledgers"), "--store", str(store))[0] == 0
    catalog = json.loads((store / "store.json").read_text())
    assert all(entry["files"] for entry in catalog["ingests"])
    fewer_rows(next((damaged / "events" / "day=2026-11-20").glob("*.parquet")))
    code, _, errors = cli(capsys, "ingest", str(demo_root / "ledgers"), "--store", str(damaged))
    assert code == 1
    assert len(errors) == 1
    assert errors[0].startswith(f"error: damaged file {damaged / 'events'}/day=*/")


def test_an_older_output_is_checked_by_its_manifest_rows(
    capsys: pytest.CaptureFixture[str], demo: Path
) -> None:
    """An output written before records were kept reads as before; a day's slices deleted there is
    still one line (the manifest's row counts no longer add up)."""
    out = demo / "output"
    for file in out.glob("manifests/*/manifest.json"):
        document = json.loads(file.read_text())
        del document["files"]
        file.write_text(json.dumps(document))
    assert cli(capsys, "sql", "invoice_lines", "--output", str(out))[0] == 0
    (out / TABLE_FILES["slices"]).unlink()
    code, _, errors = cli(capsys, "sql", "invoice_lines", "--output", str(out))
    assert code == 1
    assert errors == [
        f"error: damaged file {out / TABLE_FILES['slices']}: expected 543 slices rows (manifest rows),"
        f" found 0 rows (this file is missing); rerun period {DAY} (`reconcile run --period {DAY} ...`)"
        f" to rewrite it; `reconcile verify --output {out}` lists what else is damaged"
    ]


@pytest.mark.slow
def test_the_integrity_bench_runs_its_smoke_size(tmp_path: Path) -> None:
    """bench/bench_integrity.py --smoke measures a month run, a day run and an ingest checked and
    unchecked, and verify, on a tiny store (its figures at real sizes: bench/README.md)."""
    bench = Path(__file__).resolve().parents[3] / "bench" / "bench_integrity.py"
    proc = subprocess.run(
        [sys.executable, str(bench), "--smoke", "--data", str(tmp_path / "bench")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for label in ("month run 2026-10", "day run 2026-10-15", "ingest of 5,000 lines", "verify of the store"):
        assert any(line.startswith(label) for line in lines), proc.stdout
    assert "warning:" not in proc.stderr
    assert not (tmp_path / "bench").exists()
