"""Adding a partner's file: read its texts with InHouse's loaders, clean each, decide kept / duplicate /
near-duplicate / filtered (with the reason), count the kept ones in the served model's tokens, and store the
contribution and its ledger credit in one transaction. Exporting training shards with provenance."""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np

from inhouse.consortium.canaries import INSTRUCTION
from inhouse.consortium.clean import Cleaner
from inhouse.consortium.db import ConsortiumDB
from inhouse.consortium.dedup import MinHasher, NearDuplicates, exact_key
from inhouse.errors import InputError
from inhouse.files import atomic_write, atomic_write_json, sha256_file
from inhouse.ingest.loaders import RECORD_READERS, load_file, record_fields
from inhouse.ingest.pipeline import validate_name

TEXT_COLUMNS = {"text": ("text", "content", "body", "review", "document", "본문", "내용", "리뷰", "텍스트")}
SHORT = 15  # characters (spaces aside): below this, only exact duplicates are looked for


def read_texts(path: Path, text_column: str | None = None) -> list[str]:
    """The texts of one file: a table's text column (one text per row), or a document's paragraphs."""
    reader = RECORD_READERS.get(path.suffix.lower())
    if reader is None:
        return [b.text for b in load_file(path).blocks]
    rows = reader(path.read_bytes(), path.name)
    mapping = {"text": text_column} if text_column else None
    texts = [record_fields(r, TEXT_COLUMNS, mapping)["text"] for _, r in rows]
    if rows and all(t in (None, "") for t in texts):
        columns = ", ".join(str(c) for c in rows[0][1])
        raise InputError(f"{path.name}: no text column found (columns: {columns}); name it with --text-column.")
    return [str(t) for t in texts if t not in (None, "")]


def contribute(db: ConsortiumDB, partner: str, path: Path, count_tokens: Callable[[str], int],
               cleaner: Cleaner | None = None, hasher: MinHasher | None = None, threshold: float = 0.4,
               text_column: str | None = None, progress: Callable[[str, int, int], None] | None = None,
               near: bool = True) -> dict:
    """Add `path` as one contribution of `partner`; returns the contribution with counts per decision. Without
    `near`, only exact duplicates are looked for (the benchmark's baseline)."""
    partner = validate_name("tenant", partner)  # a partner names folders of exports too
    cleaner, hasher = cleaner or Cleaner(), hasher or MinHasher()
    digest = sha256_file(path)
    for c in db.contributions(partner):
        if c["sha256"] == digest and c["withdrawn"] is None:
            raise InputError(f"{path.name} is already contribution {c['id']} of {partner}; nothing added.")
    texts = read_texts(path, text_column)
    if not texts:
        raise InputError(f"{path.name}: no text found.")
    cleaned = [cleaner(t) for t in texts]
    first_id = db.next_text_id()
    rows = []
    seen: dict[str, int] = {}  # exact key → the first text with it in this file
    for i, c in enumerate(cleaned):
        key = exact_key(c.text)
        row = {"id": first_id + i, "text": c.text, "lang": c.lang, "tokens": 0, "key": key, "decision": "kept",
               "reason": "", "dup_of": None, "pii": c.pii, "signature": None}
        if not c.kept:
            row.update(decision="filtered", reason=c.reason)
        elif (dup := db.find_exact(key) or seen.get(key)) is not None:
            row.update(decision="duplicate", reason=f"the same text as text {dup}", dup_of=dup)
        else:
            seen[key] = row["id"]
        rows.append(row)
        if progress and (i % 500 == 0 or i == len(cleaned) - 1):
            progress("clean", i + 1, len(cleaned))
    # Near-duplicates, against every kept text of active contributions and the earlier texts of this file.
    eligible = [r for r in rows if near and r["decision"] == "kept" and len("".join(r["text"].split())) >= SHORT]
    if eligible:
        index = NearDuplicates(hasher, threshold)
        stored = db.signatures()
        if stored:
            index.add([i for i, _ in stored], np.stack([sig for _, sig in stored]))
        matrix = hasher.signatures([r["text"] for r in eligible])
        for r, sig, match in zip(eligible, matrix, index.assign([r["id"] for r in eligible], matrix), strict=True):
            if match is None:
                r["signature"] = sig.tobytes()
            else:
                r.update(decision="near-duplicate", dup_of=match[0],
                         reason=f"near-duplicate of text {match[0]} (estimated Jaccard {match[1]:.2f})")
    for r in rows:
        if r["decision"] == "kept":
            r["tokens"] = count_tokens(r["text"])
    try:
        added = db.add_contribution(partner, path.name, digest, rows)
    except sqlite3.IntegrityError as e:  # another add took these text ids meanwhile
        raise InputError(f"{path.name}: another contribution was being added at the same time; nothing was stored, "
                         "run the command again.") from e
    counts = {d: sum(1 for r in rows if r["decision"] == d) for d in ("kept", "duplicate", "near-duplicate",
                                                                       "filtered")}
    return {**added, "texts": len(rows), **counts, "tokens": sum(r["tokens"] for r in rows),
            "pii_masked": sum(r["pii"] for r in rows)}


def export(db: ConsortiumDB, folder: Path, shard_texts: int = 10_000, for_tune: bool = False,
           heldout: float = 0.05, seed: int = 0, mix: list[dict] | None = None, mix_tenant: str = "") -> dict:
    """Training shards (JSONL: text and provenance) of every kept text of active contributions, and a manifest
    with each shard's SHA-256 and the ledger head they were cut at. Files are written atomically.

    With `for_tune`, also `examples.jsonl` for `inhouse tune model --data`: each text as the reply to the
    instruction to continue a text (`canaries.INSTRUCTION`), a seeded `heldout` share of partners' texts held out
    (never a canary: each is trained on as often as it was planted). `mix`: a tenant's own training examples
    (`inhouse tune data`: messages, target, split) added to them, each marked with the tenant as its source."""
    if shard_texts < 1:
        raise InputError("shard size must be at least 1 text.")
    head = db.verify()
    rows = db.training_texts()
    # Canaries (the extraction audit), each as often as it was planted; not partners' text, not in the ledger.
    rows += [{"text_id": None, "text": c.text, "lang": c.lang, "tokens": 0, "partner": "canary", "contribution": None,
              "source": c.id, "sha256": hashlib.sha256(c.text.encode("utf-8")).hexdigest(), "canary": True}
             for c in db.canaries() for _ in range(c.repeats)]
    folder.mkdir(parents=True, exist_ok=True)
    shards = []
    for n, lo in enumerate(range(0, len(rows), shard_texts)):
        name = f"consortium-{n:05d}.jsonl"
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[lo: lo + shard_texts]).encode("utf-8")
        atomic_write(folder / name, lambda f, data=data: f.write(data))
        shards.append({"file": name, "texts": min(shard_texts, len(rows) - lo),
                       "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"ledger_head": head, "texts": len(rows), "tokens": sum(r["tokens"] for r in rows),
                "partners": sorted({r["partner"] for r in rows if r["partner"] != "canary"}),
                "canary_rows": sum(1 for r in rows if r.get("canary")), "shards": shards}
    if for_tune:
        rng = random.Random(seed)
        examples = []
        for r in rows:
            split = "heldout" if not r.get("canary") and rng.random() < heldout else "train"
            examples.append({"messages": [{"role": "user", "content": INSTRUCTION.get(r["lang"], INSTRUCTION["en"])}],
                             "target": r["text"], "split": split, "kind": "canary" if r.get("canary") else "consortium",
                             "partner": r["partner"], "source": r["source"], "sha256": r["sha256"]})
        for n, e in enumerate(mix or [], 1):
            if not isinstance(e.get("messages"), list) or not isinstance(e.get("target"), str):
                raise InputError(f"{mix_tenant}'s example {n} has no messages and target; rebuild them with "
                                 f"`inhouse tune data --tenant {mix_tenant}`.")
            examples.append({"messages": e["messages"], "target": e["target"], "split": e.get("split", "train"),
                             "kind": "tenant", "partner": mix_tenant, "source": e.get("doc_path", ""),
                             "sha256": hashlib.sha256(e["target"].encode("utf-8")).hexdigest()})
        if mix:
            manifest["mixed"] = {"tenant": mix_tenant, "examples": len(mix)}
        data = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in examples).encode("utf-8")
        atomic_write(folder / "examples.jsonl", lambda f: f.write(data))
        manifest["examples"] = {"train": sum(e["split"] == "train" for e in examples),
                                "heldout": sum(e["split"] == "heldout" for e in examples)}
    atomic_write_json(folder / "manifest.json", manifest, indent=2)
    # Files of an earlier export that this one does not list (more shards then; examples then, not now) would
    # still hold withdrawn texts: they go.
    listed = {sh["file"] for sh in shards} | ({"examples.jsonl"} if for_tune else set())
    for old in [*folder.glob("consortium-*.jsonl"), folder / "examples.jsonl"]:
        if old.exists() and old.name not in listed:
            old.unlink()
    return manifest
