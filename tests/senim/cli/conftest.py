"""Fixtures for the CLI tests."""

from __future__ import annotations

import pytest


@pytest.fixture()
def senim_home(tmp_path, monkeypatch):
    """A fresh workspace and SENIM_HOME (fast params), selected for this test."""
    from tests.integration_workspace import make_workspace

    make_workspace(tmp_path, monkeypatch)
    return tmp_path / "home"
