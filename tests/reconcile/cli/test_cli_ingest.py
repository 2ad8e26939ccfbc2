"""The ``reconcile ingest`` and ``reconcile validate`` commands: output, exit codes, errors."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from reconcile._cli import main

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    target = tmp_path / "fleet"
    shutil.copytree(DATA / "fleet", target)
    return target


def test_ingest_json_summary(fleet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints one object with this ingest's lines, events, duplicates, pending and rejects."""
    assert main(["ingest", str(fleet), "--store", str(tmp_path / "s"), "--json", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    summary = json.loads(out)
    assert (summary["lines"], summary["events"], summary["duplicates"], summary["pending"]) == (
        743,
        679,
        54,
        1,
    )
    assert sum(summary["rejects"].values()) == 9
    assert summary["lines"] == summary["events"] + summary["duplicates"] + 9 + summary["pending"]
    assert main(["ingest", str(fleet), "--store", str(tmp_path / "s"), "--json", "--quiet"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["lines"], again["events"], again["duplicates"], again["pending"]) == (1, 0, 0, 1)


def test_ingest_human_summary_and_progress(
    fleet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --json: a short summary on stdout, progress (bytes and lines) on stderr."""
    assert main(["ingest", str(fleet / "host-a"), "--store", str(tmp_path / "s")]) == 0
    out, err = capsys.readouterr()
    for word in ("events", "duplicates", "pending", "lines/s", "zero_timestamp"):
        assert word in out
    assert len(out.splitlines()) < 25
    assert "MB" in err
    assert "lines" in err
    assert main(["ingest", str(fleet / "host-b"), "--store", str(tmp_path / "s"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_validate_lists_rejects(fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """validate prints file:line: code: raw per reject and exits 1; a clean input exits 0."""
    assert main(["validate", str(fleet / "host-a" / "ledger.jsonl"), "--quiet"]) == 1
    out = capsys.readouterr().out.splitlines()
    path = fleet / "host-a" / "ledger.jsonl"
    assert out[0] == f"{path}:109: malformed_json: not json at all"
    assert out[7] == f"{path}:116: blank: "
    assert len(out) == 9
    assert main(["validate", str(fleet / "host-b"), "--quiet"]) == 0
    assert capsys.readouterr().out == ""


def test_validate_progress_names_validate(fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """validate's progress lines on stderr are labelled validate, not ingest; stdout holds only rejects."""
    assert main(["validate", str(fleet / "host-a" / "ledger.jsonl")]) == 1
    captured = capsys.readouterr()
    progress = captured.err.splitlines()
    assert progress
    assert all(line.startswith("validate: ") for line in progress)
    assert len(captured.out.splitlines()) == 9  # the rejects, and nothing else


def test_validate_writes_nothing(fleet: Path) -> None:
    """validate leaves the ledger folder as it was."""
    before = sorted(p.name for p in fleet.rglob("*"))
    main(["validate", str(fleet), "--quiet"])
    assert sorted(p.name for p in fleet.rglob("*")) == before


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["validate"], 2, "error: the following arguments are required: paths"),
        (["ingest", "x.jsonl"], 2, "error: the following arguments are required: --store"),
        (
            ["validate", "/nonexistent/ledger.jsonl"],
            1,
            "error: /nonexistent/ledger.jsonl: no such file or folder",
        ),
        (["ingest", "--wait", "-1", "x", "--store", "s"], 2, "error: --wait must be zero or more seconds"),
    ],
)
def test_errors_are_one_line(
    argv: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Usage errors exit 2, unusable inputs exit 1, each as one line naming the problem."""
    os.chdir(tmp_path)
    assert main(argv) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(message)


def test_empty_folder_and_special_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder with no file and a device file alone are one-line errors naming the path, exit 1."""
    (tmp_path / "empty").mkdir()
    assert main(["ingest", str(tmp_path / "empty"), "--store", str(tmp_path / "s")]) == 1
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'empty'}: folder holds no ledger file"
    assert main(["validate", "/dev/null"]) == 1
    assert capsys.readouterr().err.strip() == (
        "error: nothing to read: /dev/null: not a regular file (FIFO, socket or device): skipped"
    )
