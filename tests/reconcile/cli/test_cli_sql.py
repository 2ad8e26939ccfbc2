"""The analysts' commands: `reconcile sql` and `reconcile export focus`."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from helpers.analyst_fixture import write_output, write_store
from reconcile._analysts._views import PARAMS, list_relations
from reconcile._cli import main


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli_sql")
    return write_output(root), write_store(root)


def test_list_shows_every_relation_with_its_description(capsys: pytest.CaptureFixture[str]) -> None:
    """`sql --list` prints each relation's name and header description, and the parameters."""
    assert main(["sql", "--list"]) == 0
    out = capsys.readouterr().out
    for info in list_relations():
        assert any(
            line.split() and line.split()[0] == info.name and info.description in line
            for line in out.splitlines()
        )
    for name in PARAMS:
        assert name in out


def test_list_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    """`sql --list --format json` gives name/description objects."""
    assert main(["sql", "--list", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in listed] == [i.name for i in list_relations()]


@pytest.mark.parametrize("name", [info.name for info in list_relations()])
def test_every_relation_prints_as_csv(
    folders: tuple[Path, Path], name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sql NAME --format csv` prints a header and at least one row for every relation."""
    output, store = folders
    assert main(["sql", name, "--output", str(output), "--store", str(store), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows


def test_json_keeps_decimals_as_strings(
    folders: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """`--format json` writes amounts as exact decimal strings and instants as ISO 8601 with ns."""
    output, _ = folders
    assert main(["sql", "invoice_lines", "--output", str(output), "--format", "json"]) == 0
    lines = json.loads(capsys.readouterr().out)
    t3 = {r["meter"]: r for r in lines if r["tenant_id"] == "t3"}
    assert t3["vcpu_hours"]["amount"] == "0.120000000000"
    assert Decimal(t3["mem_gib_hours"]["amount"]) == Decimal("0.14")
    assert main(["sql", "slices", "--output", str(output), "--format", "json"]) == 0
    slices = json.loads(capsys.readouterr().out)
    assert "2026-11-01T02:00:00.000000001Z" in {r["slice_end"] for r in slices}


def test_table_format_and_params(folders: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """The default table output shows the rows; --param top_n=1 keeps one resource per currency."""
    output, _ = folders
    assert main(["sql", "top_resources", "--output", str(output), "--param", "top_n=1"]) == 0
    out = capsys.readouterr().out
    assert "vm-b" in out
    assert "snap-1" in out
    assert "vm-c" not in out


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["sql", "nope", "--output", "."], 2, "no analyst relation named 'nope'"),
        (["sql", "daily_spend"], 2, "--output"),
        (["sql"], 2, "relation NAME"),
        (["sql", "top_resources", "--output", ".", "--param", "top_n=x"], 2, "top_n"),
        (["sql", "slices", "--output", "/nonexistent/out"], 1, "does not exist"),
        (["sql", "rejects", "--output", "."], 2, "--store"),
    ],
)
def test_errors_are_one_line_with_exit_codes(
    argv: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Unknown relations and bad parameters exit 2, a missing output folder exits 1, with `error: ...`."""
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err


def test_export_focus_command(
    folders: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`export focus --period --to FILE.parquet` writes the period's rows and says how many."""
    output, _ = folders
    dest = tmp_path / "focus.parquet"
    argv = ["export", "focus", "--output", str(output), "--period", "2026-11", "--to", str(dest), "--quiet"]
    assert main([*argv, "--param", "focus_provider_name=Acme"]) == 1  # 28 of its days never ran
    assert "28 of its 30 days have no run" in capsys.readouterr().err
    assert main([*argv, "--param", "focus_provider_name=Acme", "--allow-partial"]) == 0
    assert "wrote 14 FOCUS rows" in capsys.readouterr().out
    table = pq.read_table(dest)
    assert table.num_rows == 14
    assert set(table.column("ProviderName").to_pylist()) == {"Acme"}
    assert set(table.column("x_PartialExport").to_pylist()) == {True}


def test_sql_limit_and_a_read_only_query(
    folders: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """`sql NAME --limit N` prints N rows; `sql --query` runs one SELECT over the relations and
    refuses anything that could write, in one line with exit 2."""
    output, _ = folders
    assert main(["sql", "slices", "--output", str(output), "--format", "json", "--limit", "2"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
    query = "SELECT tenant_id, sum(amount) AS amount FROM slices GROUP BY 1 ORDER BY tenant_id NULLS FIRST"
    assert main(["sql", "--query", query, "--output", str(output), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["tenant_id"] for r in rows] == sorted(r["tenant_id"] for r in rows)
    for bad, says in (
        ("COPY slices TO '/tmp/x.csv'", "only a SELECT may run here, not COPY"),
        ("SELECT 1; SELECT 2", "expected one statement, got 2"),
        ("CREATE TABLE t AS SELECT 1", "not CREATE"),
        ("SELECT * FROM nope", "nope"),
    ):
        assert main(["sql", "--query", bad, "--output", str(output)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: --query")
        assert says in err
    assert main(["sql", "slices", "--query", "SELECT 1", "--output", str(output)]) == 2
    assert "not both" in capsys.readouterr().err


def test_the_installed_script_runs(folders: tuple[Path, Path]) -> None:
    """The `reconcile` entry point prints a relation from a real process."""
    output, _ = folders
    script = Path(sys.executable).with_name("reconcile")
    result = subprocess.run(
        [str(script), "sql", "anomaly_summary", "--output", str(output), "--format", "csv"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("day,code,anomalies")


def test_a_closed_pipe_ends_quietly(
    folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`reconcile sql ... | head -1`: when the reader of stdout has gone away, the command stops with
    exit 1 and neither a traceback nor an `error:` line."""
    output, store = folders
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone: every write raises BrokenPipeError
    with os.fdopen(write_end, "w", buffering=1) as pipe:  # line-buffered: the first line fails
        monkeypatch.setattr(sys, "stdout", pipe)
        code = main(["sql", "slices", "--output", str(output), "--store", str(store), "--format", "csv"])
        monkeypatch.undo()
    assert code == 1
    assert capsys.readouterr().err == ""


def test_csv_neutralises_text_a_spreadsheet_would_run() -> None:
    """Text cells starting with = + - @ (or TAB, CR) get a leading quote; numbers are left alone."""
    import polars as pl  # noqa: PLC0415

    from reconcile._core._csv import write_csv  # noqa: PLC0415

    frame = pl.DataFrame(
        {
            "tenant_id": ['=HYPERLINK("http://x")', "+1", "-a", "@b", "\tc", "ok"],
            "amount": [-1, 2, 3, 4, 5, 6],
        }
    )
    buffer = io.StringIO()
    write_csv(frame, buffer)
    rows = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert [r[0] for r in rows[1:]] == ['\'=HYPERLINK("http://x")', "'+1", "'-a", "'@b", "'\tc", "ok"]
    assert rows[1][1] == "-1"
