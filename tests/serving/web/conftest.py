"""Fixtures of the in-process web page tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.serving.web.web_site import Site


@pytest.fixture
def site(tmp_path: Path):
    site = Site(tmp_path)
    try:
        yield site
    finally:
        site.close()


@pytest.fixture
def admin(site: Site) -> TestClient:
    return site.sign_in(site.admin)
