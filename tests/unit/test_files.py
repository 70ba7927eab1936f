from pathlib import Path

import pytest

from inhouse.files import atomic_write, atomic_write_json, sha256_file


def test_atomic_write_replaces_whole_file(tmp_path: Path):
    p = tmp_path / "a" / "x.json"
    atomic_write_json(p, {"v": "한글"})
    atomic_write_json(p, {"v": 2}, indent=1)
    assert p.read_text("utf-8") == '{\n "v": 2\n}'
    assert sha256_file(p) == sha256_file(p) and len(sha256_file(p)) == 64


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path):
    p = tmp_path / "x.json"
    atomic_write_json(p, {"v": 1})

    def half_then_fail(f):
        f.write(b'{"v": ')
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(p, half_then_fail)
    with pytest.raises(TypeError):
        atomic_write_json(p, {"v": object()})
    assert p.read_text("utf-8") == '{"v": 1}' and [q.name for q in tmp_path.iterdir()] == ["x.json"]
