"""The nightly job says when data is lost, late or made up: rejects and findings named, silent
sources, --fail-on, configuration from a file and the environment, the lock first, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import pytest

from helpers.run_fixture import GIB, PRICES, line, write
from reconcile import read_relation
from reconcile._cli import main
from reconcile._core._files import holding_output
from reconcile._core._progress import Progress
from reconcile._run._config import NIGHTLY, load_file, resolve
from reconcile.exceptions import UsageError

GOOD_A = [
    line("vm.compute.start", "vm-a", "2026-10-14T22:00:00Z", cpu=2, mem=GIB, reason="boot"),
    line("vm.compute.start", "vm-a2", "2026-10-15T20:00:00Z", cpu=1, reason="boot"),
]
GOOD_B = [line("vm.compute.start", "vm-b", "2026-10-14T08:00:00Z", cpu=1, mem=GIB, reason="boot")]


def _args(tmp_path: Path, *extra: str, today: str = "2026-10-16") -> list[str]:
    args = ["nightly", str(tmp_path / "ledgers"), "--store", str(tmp_path / "store")]
    return [*args, "--output", str(tmp_path / "out"), "--prices", str(PRICES), "--today", today, *extra]


def test_rejects_and_findings_are_named_and_can_fail_the_night(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rejected lines are listed by code and file:line in the summary, a file that is not a ledger
    is named, and --fail-on rejects,findings exits 3 after committing yesterday."""
    write(tmp_path / "ledgers/host-a/ledger.jsonl", *GOOD_A, "not json\n", '{"kind":"vm.compute.begin"}\n')
    (tmp_path / "ledgers/host-a/core.bin").write_bytes(b"\x7fELF\x00\x01\x02" * 10)
    assert main(_args(tmp_path, "--quiet", "--fail-on", "rejects,findings")) == 3
    captured = capsys.readouterr()
    assert "rejects: malformed_json 1, unknown_kind 1" in captured.out
    assert "ledger.jsonl:3: malformed_json" in captured.out
    assert "ledger.jsonl:4: unknown_kind" in captured.out
    assert "skipped: " in captured.out
    assert "core.bin" in captured.out
    assert "error: rejects: 2 line(s) rejected by this night's ingest (--fail-on)" in captured.err
    assert "error: findings: 1 file(s) skipped or read in part (--fail-on)" in captured.err
    assert (tmp_path / "out/manifests/period=2026-10-15/manifest.json").is_file()  # committed first
    assert main(_args(tmp_path, "--quiet", "--json", "--fail-on", "rejects")) == 0  # nothing new tonight
    assert json.loads(capsys.readouterr().out)["failed_on"] == []


def test_a_silent_source_is_reported_and_can_fail_the_night(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A host whose newest event is older than --max-silence at the cut-off is listed with its last
    event; --fail-on silent-sources exits 3; the sources relation shows every source."""
    write(tmp_path / "ledgers/host-a/ledger.jsonl", *GOOD_A)
    write(tmp_path / "ledgers/host-b/ledger.jsonl", *GOOD_B)
    args = _args(tmp_path, "--quiet", "--max-silence", "6h", "--fail-on", "silent-sources", "--json")
    assert main(args) == 3
    summary = json.loads(capsys.readouterr().out)
    silent = summary["silent_sources"]
    assert [s["source"] for s in silent] == [str(tmp_path / "ledgers/host-b/ledger.jsonl")]
    assert silent[0]["newest_at"] == "2026-10-14T08:00:00Z"
    assert summary["failed_on"] == [f"silent-sources: 1 ({silent[0]['source']})"]
    sources = read_relation("sources", tmp_path / "out", store=tmp_path / "store")
    assert sources["source"].to_list() == [
        str(tmp_path / "ledgers/host-a/ledger.jsonl"),
        str(tmp_path / "ledgers/host-b/ledger.jsonl"),
    ]
    assert sources["grew_at"].null_count() == 0
    assert main(_args(tmp_path, "--quiet", "--max-silence", "2d")) == 0  # within two days: quiet
    assert "none silent" in capsys.readouterr().out


def test_fail_on_silent_sources_needs_max_silence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--fail-on silent-sources without --max-silence, or an unknown finding, is a usage error."""
    assert main(_args(tmp_path, "--fail-on", "silent-sources")) == 2
    assert "needs --max-silence" in capsys.readouterr().err
    assert main(_args(tmp_path, "--fail-on", "typos")) == 2
    assert (
        "--fail-on typos: expected some of anomalies, rejects, findings, silent-sources"
        in capsys.readouterr().err
    )


def test_options_come_from_the_command_line_then_the_environment_then_the_file(tmp_path: Path) -> None:
    """Each nightly option is taken from the command line, else RECONCILE_<NAME>, else --config,
    else its default; lists and flags parse from both."""
    config = tmp_path / "nightly.toml"
    config.write_text(
        'paths = ["/ledgers"]\nstore = "/s"\noutput = "/o"\nprices = "p.toml"\nlookback = 7\n'
        'max-silence = "6h"\nfail-on = ["anomalies"]\nquiet = true\n'
    )
    values = resolve({"config": str(config)}, environ={})
    assert (values["paths"], values["lookback"], values["max_silence"]) == (["/ledgers"], 7, "6h")
    assert (values["fail_on"], values["quiet"], values["wait"]) == (["anomalies"], True, 0.0)
    env = {"RECONCILE_LOOKBACK": "9", "RECONCILE_FAIL_ON": "rejects,findings", "RECONCILE_JSON": "yes"}
    values = resolve({"config": str(config), "lookback": 3}, environ=env)
    assert (values["lookback"], values["fail_on"], values["json"]) == (3, ["rejects", "findings"], True)
    env = {"RECONCILE_CONFIG": str(config), "RECONCILE_PATHS": "/a:/b"}
    assert resolve({}, environ=env)["paths"] == ["/a", "/b"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lokback = 3\n", "unknown option 'lokback'"),
        ("lookback = '3'\n", "lookback: '3' is not a int"),
        ("paths = [1]\n", "every item must be a string"),
        ("store = \n", "Invalid value"),
    ],
)
def test_a_bad_config_file_is_one_usage_error_naming_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    """A misspelt key, a wrong type or bad TOML names the file and the key."""
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(UsageError, match=message) as caught:
        load_file(config)
    assert str(config) in str(caught.value)


def test_a_required_option_set_nowhere_names_the_three_places() -> None:
    """Without --store anywhere, the error says where it may come from."""
    with pytest.raises(UsageError, match=r"--store is required .*RECONCILE_STORE.*--config"):
        resolve({"paths": ["/l"], "output": "/o", "prices": "p"}, environ={})


def test_every_nightly_option_has_help_and_a_config_name() -> None:
    """Every option the nightly parser takes (but the config file itself, --debug and --today-style
    one-offs) is resolvable from the environment and the file, and has a help line."""
    from reconcile._cli import build_parser  # noqa: PLC0415

    parser = build_parser()
    nightly_parser = parser._subparsers._group_actions[0].choices["nightly"]  # type: ignore[union-attr]
    dests = {a.dest for a in nightly_parser._actions if a.dest not in {"help", "handler"}}
    assert dests - {"config", "debug"} == {o.dest for o in NIGHTLY}
    assert all(a.help for a in nightly_parser._actions)


def test_a_second_nightly_is_refused_before_the_engine_loads(tmp_path: Path) -> None:
    """While the output is locked, a nightly exits 1 with one line, without importing DuckDB or
    polars (so it answers at once: bench/bench_cli.py times it)."""
    script = (
        "import sys\nfrom reconcile._cli import main\n"
        f"code = main({_args(tmp_path, '--quiet')!r})\n"
        "print(code, 'duckdb' in sys.modules, 'polars' in sys.modules)\n"
    )
    with holding_output(tmp_path / "out", wait=0):
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    code, duckdb_loaded, polars_loaded = proc.stdout.split()
    assert (code, duckdb_loaded, polars_loaded) == ("1", "False", "False")
    assert proc.stderr.startswith("error: output folder")
    assert "is in use by another run" in proc.stderr


def test_progress_ticks_while_a_long_step_runs() -> None:
    """Progress.ticking prints its line repeatedly while inside, and nothing when quiet."""
    stream = StringIO()
    with Progress(stream=stream).ticking(lambda: "still reading", every=0.02):
        deadline = time.monotonic() + 60  # however busy the machine, three ticks come
        while stream.getvalue().count("still reading\n") < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert stream.getvalue().count("still reading\n") >= 3
    quiet = StringIO()
    with Progress(quiet=True, stream=quiet).ticking(lambda: "x", every=0.01):
        time.sleep(0.05)
    assert quiet.getvalue() == ""


def _run_ids(out: Path) -> dict[str, str]:
    return {
        p.name.removeprefix("period="): json.loads((p / "manifest.json").read_text())["run_id"]
        for p in (out / "manifests").iterdir()
    }


@pytest.mark.slow
def test_a_sigterm_inside_a_commit_names_that_day_as_committed(tmp_path: Path) -> None:
    """A SIGTERM that arrives inside a day's commit (at its commit point) waits for the commit to be
    whole; the interrupted line then names that day as committed, and its new run is in place."""
    import datetime as dt  # noqa: PLC0415

    from reconcile import write_fleet  # noqa: PLC0415

    write_fleet(tmp_path / "ledgers", 5, hosts=2, days=4, start=dt.datetime(2026, 9, 20, tzinfo=dt.UTC))
    assert main(_args(tmp_path, "--quiet", today="2026-09-21")) == 0  # ingests, runs 09-20
    before = _run_ids(tmp_path / "out")
    prices = tmp_path / "prices.toml"  # a new price book: 09-20 is restated, 09-21..23 are new
    prices.write_text(PRICES.read_text().replace('price = "0.005"', 'price = "0.006"'))
    args = [str(prices) if a == str(PRICES) else a for a in _args(tmp_path, today="2026-09-24")]
    proc = subprocess.run(
        [sys.executable, "-m", "reconcile._cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "RECONCILE_FAULT": "journal:term"},
        check=False,
    )
    assert proc.returncode == 143, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    committed = last.split("days committed: ")[1].split(";")[0].split(", ")
    after = _run_ids(tmp_path / "out")
    changed = sorted(d for d in after if after[d] != before.get(d))
    assert committed == changed == [changed[0]], last
    assert not (tmp_path / "out/.journal.json").exists()


@pytest.mark.slow
def test_sigterm_finishes_the_day_being_committed_and_names_what_is_committed(tmp_path: Path) -> None:
    """SIGTERM while a nightly commits restated days: exit 143, one line naming the days committed
    and those not; each committed day has its new run, each other its old; the next nightly finishes."""
    import datetime as dt  # noqa: PLC0415

    from reconcile import run_period, write_fleet  # noqa: PLC0415

    write_fleet(tmp_path / "ledgers", 5, hosts=2, days=20, start=dt.datetime(2026, 9, 20, tzinfo=dt.UTC))
    assert main(_args(tmp_path, "--quiet", today="2026-09-21")) == 0  # ingests, runs 09-20
    run_period(tmp_path / "store", PRICES, tmp_path / "out", "2026-09-20", quiet=True)
    assert main(_args(tmp_path, "--quiet", today="2026-10-10")) == 0  # fills every day to 10-09
    before = _run_ids(tmp_path / "out")
    assert len(before) == 20
    prices = tmp_path / "prices.toml"  # a new price book: every day is restated
    prices.write_text(PRICES.read_text().replace('price = "0.005"', 'price = "0.006"'))
    args = [str(prices) if a == str(PRICES) else a for a in _args(tmp_path, today="2026-10-10")]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconcile._cli", *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    for text in proc.stderr:
        if ": done in " in text:  # the first day is committed
            proc.send_signal(signal.SIGTERM)
            break
    rest = proc.stderr.read()
    assert proc.wait() == 143
    last = rest.strip().splitlines()[-1]
    assert last.startswith("error: interrupted by SIGTERM: days committed: ")
    committed = last.split("days committed: ")[1].split(";")[0].split(", ")
    after = _run_ids(tmp_path / "out")
    assert sorted(d for d in after if after[d] != before[d]) == committed
    assert 1 <= len(committed) < 20
    assert "the next nightly runs them" in last
    assert not (tmp_path / "out/.journal.json").exists()
    assert main([*args, "--quiet"]) == 0  # the next nightly restates the rest
    final = _run_ids(tmp_path / "out")
    assert all(final[d] != before[d] for d in before)
