"""The analyst notebooks run top to bottom (executed with nbclient, not just opened)."""

from __future__ import annotations

import base64
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from helpers.analyst_fixture import write_output, write_store

NOTEBOOKS = Path(__file__).resolve().parents[3] / "notebooks"
NAMES = ["usage_overview", "anomaly_review"]


def _execute(name: str, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> nbformat.NotebookNode:
    """Run notebook ``name`` in a fresh kernel with ``env`` set, with the kernel's own (inline)
    matplotlib backend, so that every chart becomes a PNG output as it does in JupyterLab."""
    monkeypatch.delenv("MPLBACKEND", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    return nb


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_are_committed_without_outputs(name: str) -> None:
    """The committed notebooks carry no outputs or execution counts (they are run, not stored run)."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert all(not c.outputs and c.execution_count is None for c in code)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_on_a_small_output(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each notebook runs to the end on the small SPEC-shaped output and store."""
    env = {"RECONCILE_OUTPUT": str(write_output(tmp_path)), "RECONCILE_STORE": str(write_store(tmp_path))}
    nb = _execute(name, monkeypatch, env)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_on_the_demo_output(
    name: str, demo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each notebook runs to the end on `reconcile demo`'s output, found from the demo folder."""
    nb = _execute(name, monkeypatch, {"RECONCILE_OUTPUT": str(demo_root)})
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert str(demo_root / "output") in text
    charts = [c for c in nb.cells if c.cell_type == "code" and "display(plots." in c.source]
    assert charts
    for cell in charts:  # every chart cell shows a real picture, not a repr or nothing
        images = [
            base64.b64decode(o["data"]["image/png"]) for o in cell.outputs if "image/png" in o.get("data", {})
        ]
        assert images, cell.source.splitlines()[0]
        assert all(i.startswith(b"\x89PNG\r\n\x1a\n") and len(i) > 5_000 for i in images)
