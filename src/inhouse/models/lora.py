"""Reading LoRA adapter files (llama.cpp's GGUF adapters) and the one fact of a base GGUF the registry needs.

An adapter is `general.type = adapter`, `adapter.type = lora`, `adapter.lora.alpha` and two tensors
`W.lora_a`, `W.lora_b` per adapted weight `W` of the base (`inhouse.tune.gguf_lora` writes them). The
registry refuses a file that is not one, and an adapter whose architecture is not its base's.
"""

from __future__ import annotations

import struct
from pathlib import Path

from inhouse.errors import InputError

# GGUF value types (gguf.GGUFValueType) → size in bytes of one value; 8 (string) and 9 (array) vary.
_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9


def _gguf_reader(path: Path):  # noqa: ANN202 - gguf.GGUFReader, imported lazily
    try:
        from gguf import GGUFReader
    except ImportError as e:
        raise InputError("reading LoRA adapters needs the gguf package: pip install gguf") from e
    try:
        return GGUFReader(str(path))
    except (ValueError, OSError) as e:
        raise InputError(f"{path} is not a GGUF file ({e}).") from e


def read_adapter(path: Path) -> dict:
    """Metadata and tensor names of a GGUF adapter (to list it, or to refuse a file that is not one)."""
    reader = _gguf_reader(path)

    def text(key: str) -> str | None:
        f = reader.fields.get(key)
        return bytes(f.parts[f.data[0]]).decode() if f else None

    if text("general.type") != "adapter" or text("adapter.type") != "lora":
        raise InputError(f"{path} is a GGUF file but not a LoRA adapter (general.type {text('general.type')!r}).")
    alpha = reader.fields["adapter.lora.alpha"]
    return {"arch": text("general.architecture"), "alpha": float(alpha.parts[alpha.data[0]][0]),
            "tensors": sorted({t.name.rsplit(".", 1)[0] for t in reader.tensors})}


def gguf_architecture(path: Path) -> str:
    """`general.architecture` of a GGUF file (v2 or v3, little-endian), read from its header alone: the scan
    stops at the key."""
    return _scan_header(path, shapes=False)["arch"]


def gguf_shapes(path: Path) -> dict:
    """`{"arch": ..., "shapes": {tensor name: dimensions, innermost first}}` of a GGUF file, from its header."""
    return _scan_header(path, shapes=True)


def _scan_header(path: Path, shapes: bool) -> dict:
    """A model's header also holds its tokenizer (150,000 strings and more), which a full `GGUFReader` parses
    into numpy views (seconds per read); here every value but the architecture is skipped unread."""
    with path.open("rb") as f:

        def take(fmt: str) -> int:
            size = struct.calcsize(fmt)
            raw = f.read(size)
            if len(raw) != size:
                raise InputError(f"{path} ends inside its GGUF header: the file is cut short.")
            return struct.unpack(fmt, raw)[0]

        def string() -> str:
            return f.read(take("<Q")).decode("utf-8", "replace")

        def skip(vtype: int) -> None:
            if vtype in _FIXED:
                f.seek(_FIXED[vtype], 1)
            elif vtype == _STRING:
                f.seek(take("<Q"), 1)
            elif vtype == _ARRAY:
                etype, count = take("<I"), take("<Q")
                if etype in _FIXED:
                    f.seek(_FIXED[etype] * count, 1)
                else:
                    for _ in range(count):
                        skip(etype)
            else:
                raise InputError(f"{path}: unknown GGUF value type {vtype}; is the file damaged?")

        if f.read(4) != b"GGUF":
            raise InputError(f"{path} is not a GGUF file (no GGUF header).")
        version = take("<I")
        if version not in (2, 3):
            raise InputError(f"{path}: GGUF version {version} is not supported (2 or 3, little-endian).")
        n_tensors, n_fields = take("<Q"), take("<Q")
        arch = None
        for _ in range(n_fields):
            key, vtype = string(), take("<I")
            if key == "general.architecture" and vtype == _STRING:
                arch = string()
                if not shapes:
                    return {"arch": arch}
            else:
                skip(vtype)
        if arch is None:
            raise InputError(f"{path} has no general.architecture: not a model GGUF.")
        dims = {}
        for _ in range(n_tensors):
            name = string()
            dims[name] = tuple(take("<Q") for _ in range(take("<I")))
            f.seek(12, 1)  # type (u32), offset (u64)
        return {"arch": arch, "shapes": dims}
