"""Near-duplicate detection: MinHash signatures of character (or word) shingles in an LSH banding index (bands
and rows as datasketch's MinHashLSH chooses them), each candidate confirmed by its estimated Jaccard similarity.

Signatures are computed for a batch of texts at once with numpy (several MB/s, where a Python call per shingle
manages a fraction of one). Korean text is shingled by characters with spaces and punctuation removed, so spacing
edits do not change a signature."""

from __future__ import annotations

import hashlib
import re
import zlib

import numpy as np
from datasketch.lsh import _optimal_param

_NOT_ALNUM = re.compile(r"[\W_]+")
EARLIEST = 64  # candidates taken from one LSH bucket of a batch, earliest first
_MAX_HASH = np.uint64((1 << 32) - 1)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_BASE = np.uint64(1_000_003)


def exact_key(text: str) -> str:
    """The same key for texts equal up to case and spacing."""
    return hashlib.sha256("".join(text.casefold().split()).encode("utf-8")).hexdigest()


class MinHasher:
    """MinHash signatures (`num_perm` values per text) of `unit` shingles ("char": k letters or digits, spaces
    and punctuation removed; "word": k words).

    Each shingle gets a 32-bit hash (a polynomial rolling hash of its k symbols, mixed); each of the `num_perm`
    permutations is a multiply-shift hash of it, `(a·h + b) >> 32` over 64-bit integers with odd random `a`
    (Dietzfelbinger's universal family), and a text's signature keeps the minimum per permutation. A batch of
    texts is hashed at once: their symbols joined, the rolling hash computed over the whole batch, shingles that
    would straddle two texts dropped."""

    def __init__(self, num_perm: int = 128, k: int = 4, unit: str = "char", seed: int = 1) -> None:
        if unit not in ("char", "word"):
            raise ValueError(f"unit must be 'char' or 'word', not {unit!r}")
        self.num_perm, self.k, self.unit, self.seed = num_perm, k, unit, seed
        rng = np.random.RandomState(seed)
        self._a = (rng.randint(0, 1 << 62, size=num_perm, dtype=np.int64).astype(np.uint64) << np.uint64(1)) | 1
        self._b = rng.randint(0, 1 << 62, size=num_perm, dtype=np.int64).astype(np.uint64)

    def symbols(self, text: str) -> np.ndarray:
        """The text as the sequence its shingles are cut from: code points, or one 32-bit hash per word; at least
        k symbols (a shorter text is padded, so it is one shingle)."""
        if self.unit == "char":
            s = _NOT_ALNUM.sub("", text.casefold())
            out = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        else:
            out = np.array([zlib.crc32(w.encode("utf-8")) for w in text.casefold().split()], dtype=np.uint64)
        if len(out) < self.k:
            out = np.concatenate([out, np.zeros(self.k - len(out), dtype=np.uint64)])
        return out

    def _shingles(self, parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """32-bit hashes of every k-shingle of each part, concatenated, and where each part's shingles start."""
        k = self.k
        lengths = np.array([len(p) for p in parts])
        sym = np.concatenate(parts)
        n = len(sym) - k + 1
        h = np.zeros(n, dtype=np.uint64)
        for j in range(k):  # polynomial rolling hash; uint64 arithmetic wraps, as intended
            h = h * _BASE + sym[j: j + n]
        h ^= h >> np.uint64(29)
        h *= _MIX
        h ^= h >> np.uint64(32)
        ends = np.cumsum(lengths)
        keep = np.ones(n, dtype=bool)  # a shingle is valid when it ends inside the part it starts in
        for j in range(1, k):
            cut = ends[:-1] - j
            keep[cut[cut >= 0]] = False
        valid_starts = np.cumsum(np.concatenate([[0], lengths[:-1] - k + 1]))
        return h[keep] & _MAX_HASH, valid_starts

    def signatures(self, texts: list[str], batch: int = 128) -> np.ndarray:
        """A (len(texts), num_perm) array of signatures. Small batches keep the (num_perm × shingles) matrix in
        the CPU's cache: twice as fast as large ones."""
        out = np.empty((len(texts), self.num_perm), dtype=np.uint64)
        shift = np.uint64(32)
        for lo in range(0, len(texts), batch):
            parts = [self.symbols(t) for t in texts[lo: lo + batch]]
            h, starts = self._shingles(parts)
            values = self._a[:, None] * h[None, :]
            values += self._b[:, None]
            values >>= shift
            out[lo: lo + len(parts)] = np.minimum.reduceat(values, starts, axis=1).T
        return out


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """The estimated Jaccard similarity of two signatures: the share of equal values."""
    return float(np.mean(a == b))


class NearDuplicates:
    """An LSH index of signatures. Signatures are cut into b bands of r values (datasketch's optimal (b, r) for
    the threshold); two texts are candidates when any band is equal, and a candidate counts only when the whole
    signatures agree on at least `threshold` of their values (the estimated Jaccard similarity).

    `assign` decides a whole batch in order, as if one text at a time: each text's match is the earliest indexed
    text, or earlier text of the batch that was itself kept, that it near-duplicates; texts without a match join
    the index. Band keys live in one sorted array (each band's key salted with the band's number), so the
    candidates of a whole batch come from a few numpy calls, not a dict lookup per band and text."""

    def __init__(self, hasher: MinHasher, threshold: float = 0.4) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        self.hasher, self.threshold = hasher, threshold
        self.bands, self.rows = _optimal_param(threshold, hasher.num_perm, 0.5, 0.5)
        rng = np.random.RandomState(hasher.seed)
        self._mix = rng.randint(1, 1 << 62, size=(self.bands, self.rows), dtype=np.int64).astype(np.uint64) | 1
        self._salt = rng.randint(1, 1 << 62, size=self.bands, dtype=np.int64).astype(np.uint64)
        self._keys = np.empty(0, dtype=np.uint64)  # sorted band keys of indexed texts
        self._ids = np.empty(0, dtype=np.int64)  # their text ids, aligned
        self._sigs: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._sigs)

    def band_keys(self, signatures: np.ndarray) -> np.ndarray:
        """(n, bands): each band's values mixed into one 64-bit key, salted by band (wrapping arithmetic)."""
        sigs = np.atleast_2d(signatures)[:, : self.bands * self.rows].reshape(-1, self.bands, self.rows)
        return (sigs * self._mix[None, :, :]).sum(axis=2, dtype=np.uint64) + self._salt[None, :]

    def _index(self, ids: list[int], keys: np.ndarray, sigs: list[np.ndarray]) -> None:
        if not ids:
            return
        all_keys = np.concatenate([self._keys, keys.ravel()])
        all_ids = np.concatenate([self._ids, np.repeat(np.asarray(ids, dtype=np.int64), self.bands)])
        order = np.argsort(all_keys)  # ties in any order: candidates are sorted by id where they are used
        self._keys, self._ids = all_keys[order], all_ids[order]
        self._sigs.update(zip(ids, sigs, strict=True))

    def assign(self, ids: list[int], signatures: np.ndarray) -> list[tuple[int, float] | None]:
        """For each text (`ids[i]`, `signatures[i]`, in order): (matched id, estimated Jaccard) or None; the
        unmatched join the index."""
        n = len(ids)
        if n == 0:
            return []
        keys = self.band_keys(signatures)
        flat = keys.ravel()
        owner = np.repeat(np.arange(n), self.bands)
        candidates: list[set[int]] = [set() for _ in range(n)]
        lo = np.searchsorted(self._keys, flat, side="left")
        hi = np.searchsorted(self._keys, flat, side="right")
        for j in np.nonzero(hi > lo)[0]:  # bands shared with indexed texts
            candidates[owner[j]].update(self._ids[lo[j]: hi[j]].tolist())
        order = np.argsort(flat)  # bands shared within the batch: equal keys sit together
        sorted_keys, sorted_owner = flat[order], owner[order]
        starts = np.nonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])[0]
        ends = np.r_[starts[1:], len(sorted_keys)]
        earlier: list[set[int]] = [set() for _ in range(n)]
        for g in np.nonzero(ends - starts > 1)[0]:
            members = sorted(sorted_owner[starts[g]: ends[g]].tolist())  # in batch order
            first = members[:EARLIEST]  # a crowded bucket (spam): its earliest texts are the ones that matter
            for m in members[1:]:
                earlier[m].update(x for x in first if x < m)
        position = {text_id: i for i, text_id in enumerate(ids)}
        out: list[tuple[int, float] | None] = []
        kept: list[int] = []
        kept_flags = [False] * n
        for i in range(n):
            match = None
            for cid in sorted(candidates[i] | {ids[k] for k in earlier[i] if kept_flags[k]}):
                sig = self._sigs[cid] if cid in self._sigs else signatures[position[cid]]
                sim = similarity(signatures[i], sig)
                if sim >= self.threshold:
                    match = (cid, sim)
                    break
            out.append(match)
            if match is None:
                kept_flags[i] = True
                kept.append(i)
        self._index([ids[i] for i in kept], keys[kept], [signatures[i] for i in kept])
        return out

    def match(self, signature: np.ndarray) -> tuple[int, float] | None:
        """The earliest indexed text `signature` near-duplicates (the index is not changed)."""
        keys = self.band_keys(signature)[0]
        lo = np.searchsorted(self._keys, keys, side="left")
        hi = np.searchsorted(self._keys, keys, side="right")
        pool = sorted({int(i) for a, b in zip(lo, hi, strict=True) for i in self._ids[a:b]})
        for cid in pool:
            sim = similarity(signature, self._sigs[cid])
            if sim >= self.threshold:
                return cid, sim
        return None

    def add(self, ids: list[int], signatures: np.ndarray) -> None:
        """Index texts as they are (e.g. the kept texts already stored)."""
        sigs = np.atleast_2d(signatures)
        self._index(list(ids), self.band_keys(sigs), list(sigs))
