"""Every command's help explains every option and shows its default; --version; help and usage
errors answer without loading the engine."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from reconcile._cli import build_parser, main


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_option_of_every_command_has_help(name: str) -> None:
    """Each option and argument of the command has a help line (the text a user reads)."""
    command = _commands()[name]
    missing = [a.dest for a in command._actions if not (a.help or "").strip()]
    assert not missing, f"reconcile {name}: no help for {missing}"
    assert command.description or _commands()[name].format_usage()


@pytest.mark.parametrize("name", sorted(_commands()))
def test_help_shows_defaults_and_required(name: str) -> None:
    """An option with a default shows it, a required one says so, in the printed help."""
    command = _commands()[name]
    text = " ".join(command.format_help().split())
    for action in command._actions:
        if not action.option_strings or action.dest == "help":
            continue
        if action.required:
            assert "(required)" in " ".join((action.help or "").split()) or "required" in text
        elif action.default not in (None, False, [], argparse.SUPPRESS):
            assert f"default: {action.default}" in text or "default" in (action.help or ""), action.dest


def test_version_prints_the_distribution_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`reconcile --version` prints the name and version and exits 0."""
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("reconcile ")


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["run", "--period"], ["nope"]])
def test_help_and_usage_errors_load_no_engine(argv: list[str]) -> None:
    """`reconcile --help`, a command's help and a usage error answer (exit 0 or 2) without importing
    DuckDB, polars or pyarrow: what makes them fast (bench/bench_cli.py times them)."""
    script = (
        "import sys\nfrom reconcile._cli import main\n"
        "try:\n    code = main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
        "loaded = [m for m in ('duckdb', 'polars', 'pyarrow') if m in sys.modules]\n"
        "print('RESULT', code, *loaded, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, check=False)
    result = proc.stderr.strip().splitlines()[-1].split()
    assert result[0] == "RESULT"
    assert result[1] in ("0", "2")
    assert result[2:] == []


@pytest.mark.parametrize("script", ["reconcile", "pytest"])
def test_a_next_hint_runs_as_printed_in_a_fresh_shell(script: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The `next:` command lines the CLI prints run in a shell whose PATH has no virtual environment
    (a new terminal after `uv run`), whether the script or `python -m` started the CLI."""
    from pathlib import Path  # noqa: PLC0415

    from reconcile._cli._base import command_line  # noqa: PLC0415

    installed = Path(sys.executable).with_name("reconcile")
    monkeypatch.setattr(sys, "argv", [str(installed) if script == "reconcile" else "pytest"])
    line = command_line("sql", "--list")
    fresh = {"PATH": "/usr/bin:/bin"}  # a new shell: no virtual environment on its PATH
    proc = subprocess.run(line, shell=True, env=fresh, capture_output=True, text=True, check=False)  # noqa: S602
    assert proc.returncode == 0, proc.stderr
    assert "invoice_lines" in proc.stdout
