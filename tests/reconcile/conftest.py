"""Fixtures shared by the reconcile tests."""

from __future__ import annotations

from pathlib import Path

import pytest

import reconcile


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `reconcile demo` folder (ledgers, store, output, tenants), made once per test session."""
    summary = reconcile.demo(tmp_path_factory.mktemp("demo") / "demo", quiet=True)
    return Path(summary.root)
