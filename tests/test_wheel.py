"""The built wheel holds what an install from it needs: both packages, every SQL file, the command,
the extras; its base install imports `recorder` with no dependency."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_installs_and_carries_the_sql(tmp_path: Path) -> None:
    """`uv build --wheel` makes a wheel with recorder, reconcile, py.typed, every sql/ file under
    reconcile/sql, the `reconcile` script and the reconcile and notebooks extras; installed alone
    (no dependencies) into a fresh environment, `import recorder` works."""
    uv = shutil.which("uv")
    assert uv, "uv is what the README installs with; it must be on PATH"
    built = subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(tmp_path / "dist"), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("cocoon_billing-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
        entry_points = next(archive.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    sql = {p.relative_to(ROOT).as_posix() for p in (ROOT / "sql").rglob("*.sql")}
    assert {f"reconcile/{name}" for name in sql} <= names
    assert {"recorder/__init__.py", "reconcile/__init__.py", "reconcile/py.typed"} <= names
    assert "reconcile = reconcile._cli:main" in entry_points
    assert "Provides-Extra: reconcile" in metadata
    assert "Provides-Extra: notebooks" in metadata
    env = tmp_path / "env"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)], check=True)
    probe = subprocess.run(
        [str(python), "-c", "import recorder, sys; print(recorder.Entry.__name__, 'duckdb' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.split() == ["Entry", "False"]
    assert sys.executable != str(python)
