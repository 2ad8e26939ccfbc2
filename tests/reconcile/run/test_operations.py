"""The systemd units, timers and configuration file in docs/OPERATIONS.md parse: the nightly unit's
command line is one the nightly accepts with every option its configuration file sets, and the weekly
scrub verifies what the nightly writes."""

from __future__ import annotations

import configparser
import re
import shlex
import tomllib
from pathlib import Path

from reconcile._cli import build_parser
from reconcile._run._config import load_file, resolve

DOC = Path(__file__).resolve().parents[3] / "docs" / "OPERATIONS.md"


def _block(name: str) -> str:
    """The fenced block right after the line naming the file ``name``."""
    match = re.search(rf"`{re.escape(name)}`:\n\n```\w*\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert match, f"docs/OPERATIONS.md has no block for {name}"
    return match.group(1)


def _ini(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string(_block(name))
    return parser


def test_the_unit_runs_the_nightly_from_its_config_file(tmp_path: Path) -> None:
    """The service's ExecStart is `reconcile nightly --config FILE`, and the config file it names
    (as the doc gives it) sets every required option with valid values."""
    unit = _ini("/etc/systemd/system/reconcile-nightly.service")
    argv = shlex.split(unit["Service"]["ExecStart"])
    assert Path(argv[0]).name == "reconcile"
    args = build_parser().parse_args(argv[1:])
    assert args.command == "nightly"
    assert args.config == "/etc/reconcile/nightly.toml"
    config = tmp_path / "nightly.toml"
    config.write_text(_block("/etc/reconcile/nightly.toml"), encoding="utf-8")
    assert tomllib.loads(config.read_text(encoding="utf-8"))
    values = resolve({"config": str(config)}, environ={})
    assert set(load_file(config)) <= set(values)
    assert values["max_silence"] == "6h"
    assert set(values["fail_on"]) == {"anomalies", "rejects", "findings", "silent-sources"}
    assert unit["Service"]["Type"] == "oneshot"
    assert "SuccessExitStatus" not in unit["Service"]  # a finding (exit 3) fails the unit and alerts


def test_the_timer_runs_nightly_and_catches_up() -> None:
    """The timer fires once a day at a UTC time and is persistent (a missed night runs at boot)."""
    timer = _ini("/etc/systemd/system/reconcile-nightly.timer")
    assert re.fullmatch(r"\*-\*-\* \d\d:\d\d:\d\d UTC", timer["Timer"]["OnCalendar"])
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_the_weekly_scrub_verifies_the_nightlys_store_and_output() -> None:
    """The verify unit checks the store and output the nightly's configuration names, and alerts on
    failure; its timer fires once a week at a UTC time and catches up."""
    unit = _ini("/etc/systemd/system/reconcile-verify.service")
    argv = shlex.split(unit["Service"]["ExecStart"])
    assert Path(argv[0]).name == "reconcile"
    args = build_parser().parse_args(argv[1:])
    assert args.command == "verify"
    nightly = tomllib.loads(_block("/etc/reconcile/nightly.toml"))
    assert (args.store, args.output) == (nightly["store"], nightly["output"])
    assert unit["Unit"]["OnFailure"] == "billing-alert@%n.service"
    assert unit["Service"]["Type"] == "oneshot"
    timer = _ini("/etc/systemd/system/reconcile-verify.timer")
    assert re.fullmatch(
        r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \*-\*-\* \d\d:\d\d:\d\d UTC", timer["Timer"]["OnCalendar"]
    )
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"
