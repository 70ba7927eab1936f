"""Settings and paths. INHOUSE_HOME (default ./.inhouse) holds the database and vector files.

Settings are data: each has a name, a default and a help line, read from `INHOUSE_HOME/config.toml`
and overridden by `INHOUSE_<NAME>` environment variables.
"""

from __future__ import annotations

import os
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field, fields
from pathlib import Path

from inhouse.errors import InputError


@dataclass
class Settings:
    # Chunking: target characters per chunk and characters of overlap carried from the previous chunk.
    chunk_chars: int = field(default=700, metadata={"help": "target characters per chunk"})
    chunk_overlap: int = field(default=120, metadata={"help": "characters of overlap between chunks"})
    # Retrieval: candidates fetched from each retriever before fusion, and the RRF constant.
    candidates: int = field(default=50, metadata={"help": "candidates per retriever before fusion"})
    # RRF constant and weights chosen on a tuning slice of the retrieval bench (see bench/retrieval.py).
    rrf_k: int = field(default=10, metadata={"help": "reciprocal-rank-fusion constant"})
    lexical_weight: float = field(default=1.0, metadata={"help": "weight of the lexical ranking in RRF"})
    # Dense retrieval is weaker than morpheme BM25 on Korean (bench/retrieval.py), so it counts half.
    dense_weight: float = field(default=0.5, metadata={"help": "weight of the dense ranking in RRF"})
    # The knowledge-base store: SQLite under INHOUSE_HOME, or a PostgreSQL database (pgvector installed) that
    # several InHouse processes share (inhouse.store.postgres).
    database_url: str = field(default="", metadata={"help": "postgresql://user@host:5432/db for a shared store "
                                                            "(empty: SQLite under INHOUSE_HOME)"})
    # Embedding: which embedder and how many chunks per batch.
    embedder: str = field(default="e5-small", metadata={"help": "embedder name (e5-small or hash)"})
    embed_batch: int = field(default=16, metadata={"help": "chunks per embedding batch"})
    # Generation: which registered model answers (empty: the registry's default) and llama.cpp settings.
    model: str = field(default="", metadata={"help": "model name for answers (empty: registry default)"})
    n_ctx: int = field(default=4096, metadata={"help": "llama.cpp context window in tokens"})
    n_threads: int = field(default=0, metadata={"help": "llama.cpp threads (0: all cores)"})
    # LoRA adapters from the registry (`inhouse models list`): a tenant's own wins over the default, and an
    # explicit `--adapter` over both (inhouse.models.registry.pick_adapter).
    adapter: str = field(default="", metadata={"help": "LoRA adapter applied to the model (empty: none)"})
    tenant_adapters: str = field(default="", metadata={"help": "each tenant's own LoRA adapter: "
                                                               "tenant=adapter,tenant2=adapter2"})
    # The model judges each claim the verifier keeps against its source sentence (inhouse.answer.judge).
    judge: bool = field(default=True, metadata={"help": "let the model judge each kept claim (off: faster, "
                                                        "more wrong answers let through)"})
    max_file_mb: float = field(default=20.0, metadata={"help": "files larger than this are refused"})
    max_body_kb: int = field(default=1024, metadata={"help": "HTTP request bodies (except uploads) larger than "
                                                             "this are refused with 413 before they are read"})
    pii: str = field(default="keep", metadata={"help": "PII policy of ingest when none is given (--pii, uploads): "
                                                       "keep, mask, tokenize or reject"})
    # A 20 MB zip or PDF stream can inflate a thousand times; what a file may unpack to is capped on its own
    # (inhouse.ingest.unpack): DOCX/XLSX parts in all, PDF streams inflated and page content drawn.
    max_unpacked_mb: float = field(default=200.0, metadata={"help": "a DOCX/XLSX or PDF may unpack to at most this "
                                                                    "(zip parts, PDF streams); more is refused"})
    # Egress lock (inhouse.guard.egress): hosts reachable besides loopback; "*" turns the lock off.
    egress_allow: str = field(default="", metadata={"help": "comma-separated hosts/IPs/CIDRs the process may "
                                                            "connect to"})
    # Operator logs of the `inhouse` command on stderr (inhouse.cli.logs); `--log-level` overrides it.
    log_level: str = field(default="warning", metadata={"help": "operator log level on stderr: debug, info, "
                                                               "warning or error"})


def tenant_adapters(text: str) -> dict[str, str]:
    """The `tenant_adapters` setting as {tenant: adapter}: "acme=acme-lora, globex=g1"."""
    out: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        tenant, sep, adapter = (x.strip() for x in pair.partition("="))
        if not sep or not tenant or not adapter:
            raise InputError(f"setting tenant_adapters: '{pair}' is not tenant=adapter; write "
                             "tenant_adapters = \"acme=acme-lora,globex=globex-lora\".")
        if tenant in out:
            raise InputError(f"setting tenant_adapters names tenant '{tenant}' twice.")
        out[tenant] = adapter
    return out


def home() -> Path:
    """The data directory: $INHOUSE_HOME or ./.inhouse."""
    return Path(os.environ.get("INHOUSE_HOME", ".inhouse")).expanduser().resolve()


# A tenant name: one path segment everywhere it names a folder (the knowledge base's uploads, recs, commerce):
# a letter or digit (Korean included) first, then letters, digits, '_', '-', '.', '@'; never '..'.
_TENANT = re.compile(r"[^\W_][\w.@-]{0,63}")


def valid_tenant(name: str) -> bool:
    """Also: in NFC (one spelling of 한빛은행, not two folders) and at most 200 bytes as a file name."""
    return (bool(_TENANT.fullmatch(name or "")) and ".." not in name and unicodedata.is_normalized("NFC", name)
            and len(name.encode()) <= 200)


def tenant_dir(area: str, tenant: str, base: Path | None = None) -> Path:
    """`home()/<area>/<tenant>` (or under `base`, a server's home): one tenant's files of one feature (recs,
    commerce). The name is checked first, so no tenant name can reach outside its folder."""
    if not valid_tenant(tenant):
        raise InputError(f"invalid tenant name {tenant!r}: use 1–64 letters, digits, '_', '-', '.' or '@', starting "
                         "with a letter or digit (Unicode in NFC, at most 200 bytes).")
    return (base or home()) / area / tenant


_SWITCH = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def load_settings(base: Path | None = None) -> Settings:
    """Read config.toml under the home directory, then INHOUSE_* environment overrides."""
    base = base or home()
    values: dict[str, object] = {}
    cfg = base / "config.toml"
    if cfg.exists():
        try:
            values.update(tomllib.loads(cfg.read_text("utf-8")))
        except tomllib.TOMLDecodeError as e:
            raise InputError(f"{cfg} is not valid TOML ({e}); fix or delete it.") from e
    settings = Settings()
    names = {f.name: f for f in fields(Settings)}
    for key in list(values):
        if key not in names:
            raise InputError(f"{cfg}: unknown setting '{key}'; valid settings: {', '.join(sorted(names))}.")
    for name in names:
        env = os.environ.get(f"INHOUSE_{name.upper()}")
        raw = env if env is not None else values.get(name)
        if raw is None:
            continue
        typ = type(getattr(settings, name))
        if typ is bool and not isinstance(raw, bool):
            # bool("0") is True: a switch is read from its words.
            word = str(raw).strip().lower()
            if word not in _SWITCH:
                raise InputError(f"setting {name}={raw!r} is not a valid switch; use true or false.")
            raw = _SWITCH[word]
        try:
            setattr(settings, name, typ(raw))
        except (TypeError, ValueError) as e:
            raise InputError(f"setting {name}={raw!r} is not a valid {typ.__name__}.") from e
    tenant_adapters(settings.tenant_adapters)  # a malformed list is named now, not at the first request
    return settings
