"""Fixtures shared by the reconcile tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import reconcile


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `reconcile demo` folder (ledgers, store, output, tenants), made once per test session."""
    summary = reconcile.demo(tmp_path_factory.mktemp("demo") / "demo", quiet=True)
    return Path(summary.root)


@pytest.fixture
def demo(tmp_path: Path, demo_root: Path) -> Path:
    """A fresh copy of the demo's store, output and tenants (a test may damage it)."""
    root = tmp_path / "demo"
    shutil.copytree(demo_root / "store", root / "store")
    shutil.copytree(demo_root / "output", root / "output")
    shutil.copy(demo_root / "tenants.csv", root / "tenants.csv")
    return root
