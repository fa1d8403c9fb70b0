"""Shared fixtures: one Verilator build per architecture, reused by every test that needs it."""

from pathlib import Path

import pytest

from models.spec import load_spec

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


@pytest.fixture(scope="session")
def arch():
    """Load a shipped architecture by name (configs/<name>.yaml)."""
    return lambda name: load_spec(CONFIGS / f"{name}.yaml")
