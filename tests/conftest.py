"""Every test gets its own INHOUSE_HOME, so no test can see another's data or the user's."""

from __future__ import annotations

from pathlib import Path

import pytest

from inhouse.config import Settings
from inhouse.store import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def inhouse_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("INHOUSE_HOME", str(home))
    return home


@pytest.fixture
def settings() -> Settings:
    return Settings(embedder="hash")


@pytest.fixture
def store(inhouse_home: Path):
    s = SQLiteStore(inhouse_home / "inhouse.db")
    yield s
    s.close()
