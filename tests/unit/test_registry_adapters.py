"""LoRA adapters as registry entries: registering (and what is refused), the file and base checks at load,
which adapter answers (explicit > tenant's > setting > none), and the `inhouse models` commands.

Bases are tiny real GGUF files (`make_gguf_model`) and adapters are written over them by the project's own
writer, so nothing here loads a model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from inhouse.cli.common import out
from inhouse.cli.main import main
from inhouse.config import Settings, load_settings
from inhouse.errors import InputError, NotFoundError
from inhouse.models.lora import gguf_architecture
from inhouse.models.registry import Registry, pick_adapter
from tests.helpers import make_gguf_model, random_adapter

META = {"tenant": "acme", "data_sha256": "d" * 64, "steps": 40, "rank": 4, "examples": 120}


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    """Registry with two tiny bases, m1 and m2 (qwen2), and one adapter, acme-lora, trained on m1."""
    r = Registry()
    r.add(make_gguf_model(tmp_path / "m1.gguf", seed=1))
    r.add(make_gguf_model(tmp_path / "m2.gguf", seed=2))
    r.add_adapter(random_adapter(tmp_path / "acme-lora.gguf", tmp_path / "m1.gguf"), "acme-lora", "m1", META)
    return r


def test_an_adapter_is_registered_with_its_base_hash_and_the_training_metadata(reg: Registry, tmp_path: Path):
    name, path, entry = reg.resolve_adapter("acme-lora")
    assert (name, path) == ("acme-lora", (tmp_path / "acme-lora.gguf").resolve())
    assert entry["base"] == "m1" and entry["base_sha256"] == reg.list()[0]["sha256"] and entry["arch"] == "qwen2"
    assert entry["size"] == path.stat().st_size and len(entry["sha256"]) == 64 and entry["created"].endswith("+00:00")
    assert {k: entry[k] for k in META} == META and entry["alpha"] == 8.0
    stored = json.loads(reg.file.read_text("utf-8"))
    assert set(stored) == {"default", "models", "adapters", "remote"} and list(stored["adapters"]) == ["acme-lora"]
    assert [a["name"] for a in reg.list_adapters()] == ["acme-lora"] and reg.list_adapters()[0]["kind"] == "adapter"
    assert {(r["kind"], r["name"], r["ok"]) for r in reg.verify()} == {
        ("model", "m1", True), ("model", "m2", True), ("adapter", "acme-lora", True)}
    assert reg.verify("acme-lora")[0]["reason"] == "hash matches"


def test_names_clash_with_no_model_and_are_plain(reg: Registry, tmp_path: Path):
    adapter = tmp_path / "acme-lora.gguf"
    for taken in ("m1", "qwen2.5-coder-0.5b"):
        with pytest.raises(InputError, match="already the name of a model"):
            reg.add_adapter(adapter, taken, "m1")
    with pytest.raises(InputError, match="already the name of an adapter"):
        reg.add(tmp_path / "m2.gguf", "acme-lora")
    with pytest.raises(InputError, match="is an adapter, not a model"):
        reg.set_default("acme-lora")
    for bad in ("a b", "", "../x", "-x"):
        with pytest.raises(InputError, match="adapter name"):
            reg.add_adapter(adapter, bad, "m1")
    with pytest.raises(InputError, match="may not set base, sha256"):
        reg.add_adapter(adapter, "other", "m1", {"sha256": "0" * 64, "base": "m2"})


def test_files_that_are_not_adapters_for_the_base_are_refused(reg: Registry, tmp_path: Path):
    with pytest.raises(InputError, match="not a LoRA adapter"):
        reg.add_adapter(tmp_path / "m2.gguf", "x", "m1")  # a model GGUF
    (tmp_path / "notes.txt").write_text("not a gguf at all", "utf-8")
    with pytest.raises(InputError, match="not a GGUF file"):
        reg.add_adapter(tmp_path / "notes.txt", "x", "m1")
    with pytest.raises(NotFoundError, match="no such adapter file"):
        reg.add_adapter(tmp_path / "missing.gguf", "x", "m1")
    with pytest.raises(NotFoundError, match="no model named 'nope'"):
        reg.add_adapter(tmp_path / "acme-lora.gguf", "x", "nope")
    reg.add(make_gguf_model(tmp_path / "l.gguf", arch="llama"), "llama-base")
    assert gguf_architecture(tmp_path / "l.gguf") == "llama"
    with pytest.raises(InputError, match="adapter for 'qwen2' models, but 'llama-base' is a 'llama' model"):
        reg.add_adapter(tmp_path / "acme-lora.gguf", "x", "llama-base")
    assert [a["name"] for a in reg.list_adapters()] == ["acme-lora"]


def test_a_changed_adapter_file_is_refused_until_registered_again(reg: Registry, tmp_path: Path):
    random_adapter(tmp_path / "acme-lora.gguf", tmp_path / "m1.gguf", seed=7)  # same size, other weights
    with pytest.raises(InputError, match="changed since.*add-adapter"):
        reg.resolve_adapter("acme-lora")
    assert reg.verify("acme-lora")[0]["ok"] is False
    reg.add_adapter(tmp_path / "acme-lora.gguf", "acme-lora", "m1", META)
    assert reg.resolve_adapter("acme-lora")[0] == "acme-lora"


def test_an_adapter_whose_base_changed_is_refused(reg: Registry, tmp_path: Path):
    reg.add(make_gguf_model(tmp_path / "m1b.gguf", seed=9), "m1")  # the name m1 now holds other weights
    with pytest.raises(InputError, match="trained on 'm1' with SHA-256 .* the base model changed"):
        reg.resolve_adapter("acme-lora")
    assert "its base 'm1' is now" in reg.verify("acme-lora")[0]["reason"]
    reg.add(tmp_path / "m1.gguf", "m1")  # the original base again
    assert reg.resolve_adapter("acme-lora")[0] == "acme-lora"


def test_writes_are_atomic_and_a_failed_one_changes_nothing(reg: Registry, tmp_path: Path):
    before = reg.file.read_bytes()
    with pytest.raises(TypeError):
        reg.add_adapter(tmp_path / "acme-lora.gguf", "second", "m1", {"tenant": object()})  # not JSON
    assert reg.file.read_bytes() == before
    assert sorted(p.name for p in reg.dir.iterdir()) == ["registry.json"]  # no temporary file left behind


def test_remove_adapter_keeps_the_file(reg: Registry, tmp_path: Path):
    assert reg.remove_adapter("acme-lora")["base"] == "m1"
    assert reg.list_adapters() == [] and (tmp_path / "acme-lora.gguf").is_file()
    with pytest.raises(NotFoundError, match="no adapter named 'acme-lora'"):
        reg.remove_adapter("acme-lora")
    with pytest.raises(NotFoundError, match="no adapter named 'acme-lora'"):
        reg.resolve_adapter("acme-lora")


def test_which_adapter_answers_explicit_then_tenant_then_setting(reg: Registry, tmp_path: Path):
    reg.add_adapter(random_adapter(tmp_path / "g.gguf", tmp_path / "m1.gguf", seed=3), "default-lora", "m1")
    s = Settings(adapter="default-lora", tenant_adapters="acme=acme-lora")
    assert pick_adapter(s, None, "acme") == "acme-lora" and pick_adapter(s, None, "globex") == "default-lora"
    assert pick_adapter(s, "x", "acme") == "x" and pick_adapter(s, "", "acme") is None
    assert pick_adapter(Settings(), None, "acme") is None
    # No model chosen: the adapter's base is the model.
    choice = reg.choose(s, tenant="acme")
    assert (choice.model, choice.adapter, choice.name) == ("m1", "acme-lora", "m1+acme-lora")
    assert choice.adapter_sha256 == reg.resolve_adapter("acme-lora")[2]["sha256"]
    assert choice.chat(s, n_threads=1).name == "m1+acme-lora"  # made, not loaded
    assert reg.choose(s, tenant="globex").name == "m1+default-lora"
    reg.set_default("m2")
    assert reg.choose(s, adapter="", tenant="acme").name == "m2"
    assert reg.choose(s, tenant="acme").name == "m1+acme-lora"  # the adapter's base, not the default
    # A model chosen that the adapter was not trained on: named, both of them.
    with pytest.raises(InputError, match="'acme-lora' was trained on 'm1', not on 'm2'"):
        reg.choose(Settings(model="m2", tenant_adapters="acme=acme-lora"), tenant="acme")
    assert reg.choose(Settings(model="m2", tenant_adapters="acme=acme-lora"), tenant="globex").name == "m2"
    with pytest.raises(NotFoundError, match="no adapter named 'nope'"):
        reg.choose(s, adapter="nope")


def test_tenant_adapters_setting_is_checked_when_read(inhouse_home: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INHOUSE_TENANT_ADAPTERS", "acme=a1, globex = g1")
    assert load_settings().tenant_adapters == "acme=a1, globex = g1"
    assert pick_adapter(load_settings(), None, "globex") == "g1"
    for bad, message in (("acme", "'acme' is not tenant=adapter"), ("acme=a,acme=b", "names tenant 'acme' twice")):
        monkeypatch.setenv("INHOUSE_TENANT_ADAPTERS", bad)
        with pytest.raises(InputError, match=message):
            load_settings()


def test_models_commands_list_add_and_remove_adapters(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                      monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(out, "width", 240)  # the table's every column at full width, as on a wide terminal
    Registry().add(make_gguf_model(tmp_path / "m1.gguf"))
    random_adapter(tmp_path / "ext.gguf", tmp_path / "m1.gguf")
    assert main(["models", "add-adapter", str(tmp_path / "ext.gguf"), "--base", "m1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "ext"
    Registry().add_adapter(tmp_path / "ext.gguf", "acme-lora", "m1", META)
    assert main(["models", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["m1"]["kind"] == "model" and rows["ext"]["kind"] == rows["acme-lora"]["kind"] == "adapter"
    assert rows["acme-lora"]["base"] == "m1" and rows["acme-lora"]["tenant"] == "acme"
    assert rows["acme-lora"]["data_sha256"] == "d" * 64
    assert main(["models", "list"]) == 0
    table = capsys.readouterr().out
    assert "adapter" in table and "acme-lora" in table and "dddddddddddd" in table and "acme" in table
    assert main(["models", "verify"]) == 0
    assert "ok  adapter acme-lora: hash matches" in capsys.readouterr().out
    assert main(["models", "remove-adapter", "ext"]) == 0
    assert "removed adapter ext" in capsys.readouterr().out and (tmp_path / "ext.gguf").is_file()
    assert main(["models", "remove-adapter", "ext"]) == 3
    assert "no adapter named 'ext'" in capsys.readouterr().err
    assert main(["models", "add-adapter", str(tmp_path / "m1.gguf"), "--base", "m1"]) == 2
    err = capsys.readouterr().err
    assert "not a LoRA adapter" in err and "Traceback" not in err


def test_ask_with_an_adapter_of_another_model_is_one_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                 monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INHOUSE_EMBEDDER", "hash")
    reg = Registry()
    reg.add(make_gguf_model(tmp_path / "m1.gguf", seed=1))
    reg.add(make_gguf_model(tmp_path / "m2.gguf", seed=2))
    reg.add_adapter(random_adapter(tmp_path / "a.gguf", tmp_path / "m1.gguf"), "acme-lora", "m1")
    code = main(["ask", "what?", "--tenant", "acme", "--model", "m2", "--adapter", "acme-lora"])
    err = capsys.readouterr().err
    assert code == 2 and "'acme-lora' was trained on 'm1', not on 'm2'" in err and "Traceback" not in err
    monkeypatch.setenv("INHOUSE_TENANT_ADAPTERS", "acme=acme-lora")  # the tenant's own, the same check
    assert main(["ask", "what?", "--tenant", "acme", "--model", "m2"]) == 2
    assert "not on 'm2'" in capsys.readouterr().err
    assert main(["ask", "what?", "--tenant", "acme", "--adapter", "nope"]) == 3
    assert "no adapter named 'nope'" in capsys.readouterr().err
    assert main(["ask", "what?", "--tenant", "acme", "--max-tokens", "0"]) == 2
    err = capsys.readouterr().err
    assert "--max-tokens" in err and "Traceback" not in err


def test_the_server_checks_its_adapters_before_it_starts(reg: Registry, inhouse_home: Path):
    from inhouse.models.embedders import load_embedder
    from inhouse.server.app import create_app

    def server(**settings):
        return create_app(embedder=load_embedder("hash"), settings=Settings(embedder="hash", **settings),
                          base=inhouse_home).state.inhouse

    assert server().check_adapters() == []  # no adapter configured: no model is resolved
    assert server(tenant_adapters="acme=acme-lora").check_adapters() == ["m1+acme-lora"]
    with pytest.raises(NotFoundError, match="no adapter named 'gone'"):
        server(tenant_adapters="acme=acme-lora,globex=gone").check_adapters()
    with pytest.raises(InputError, match="not on 'm2'"):
        server(model="m2", adapter="acme-lora").check_adapters()
    srv = server(model="m2", tenant_adapters="acme=acme-lora")
    assert srv.chat_for("globex").name == "m2" and srv.chat_for("globex") is srv.chat_for("globex")
    with pytest.raises(InputError, match="not on 'm2'"):
        srv.chat_for("acme")
