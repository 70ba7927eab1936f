"""Settings from config.toml and INHOUSE_* variables: switches read from their words, bad values named."""

import pytest

from inhouse.config import load_settings
from inhouse.errors import InputError


def test_a_switch_is_read_from_its_words(tmp_path, monkeypatch):
    assert load_settings(tmp_path).judge is True
    for word, value in (("0", False), ("off", False), ("False", False), ("1", True), ("yes", True)):
        monkeypatch.setenv("INHOUSE_JUDGE", word)
        assert load_settings(tmp_path).judge is value
    monkeypatch.delenv("INHOUSE_JUDGE")
    (tmp_path / "config.toml").write_text("judge = false\n", "utf-8")
    assert load_settings(tmp_path).judge is False
    monkeypatch.setenv("INHOUSE_JUDGE", "maybe")
    with pytest.raises(InputError, match="judge='maybe' is not a valid switch"):
        load_settings(tmp_path)
