"""Review summaries: for each product, the aspects its reviews talk about (battery, 배송, 맛 …), each with its
positive and negative mentions counted and quoted.

One pass per review, cached by the review's content hash, so new or edited reviews are the only new work:

1. clauses: sentences (`text.split_sentences`), cut again where a contrast starts ("…, but", "…지만 ",
   "…는데 "), so that "great screen but the battery dies" is two opinions;
2. aspect mentions: the shop's aspects (mined from all its reviews, `mine_aspects`, or given) found in a
   clause: Korean nouns by Kiwi morpheme, English words with their plural;
3. the polarity of each clause that mentions an aspect: a linear classifier over the clause's e5 embedding
   (`Polarity`), trained on labelled opinions; a clause too close to call is neutral.

A summary is built from the cached mentions: per aspect, counts and quotes. Every quote is an exact
substring of one review (its span is stored, and checked when the summary is built). Quotes are ranked by
the classifier's confidence; among equally confident ones, a positive quote from a review with more stars
and a negative one from a review with fewer come first (the stars are the reviewer's own verdict).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from inhouse.apps.commerce.shopdb import ShopDB
from inhouse.config import tenant_dir
from inhouse.errors import InputError, NotFoundError, StoreError
from inhouse.files import atomic_write_json
from inhouse.text.analyze import analyze
from inhouse.text.stem import stem

ANALYSIS_VERSION = "1"  # bump when clauses or mentions change: cached analyses are redone
POLARITIES = ("negative", "neutral", "positive")

SCHEMA = """
CREATE TABLE IF NOT EXISTS reviews (
  review_id TEXT PRIMARY KEY, product_id TEXT NOT NULL, text TEXT NOT NULL, stars REAL, date TEXT NOT NULL,
  sha TEXT NOT NULL, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS reviews_product ON reviews (product_id);
CREATE TABLE IF NOT EXISTS mentions (
  review_id TEXT NOT NULL REFERENCES reviews(review_id) ON DELETE CASCADE, start INTEGER NOT NULL,
  "end" INTEGER NOT NULL, aspect TEXT NOT NULL, polarity TEXT NOT NULL, confidence REAL NOT NULL,
  PRIMARY KEY (review_id, start, aspect));
CREATE INDEX IF NOT EXISTS mentions_aspect ON mentions (aspect);
CREATE TABLE IF NOT EXISTS analysed (
  review_id TEXT PRIMARY KEY REFERENCES reviews(review_id) ON DELETE CASCADE, sha TEXT NOT NULL,
  version TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Review:
    review_id: str
    product_id: str
    text: str
    stars: float | None = None  # 1–5
    date: str = ""

    @property
    def sha(self) -> str:
        return hashlib.sha256(f"{self.product_id}\x00{self.text}".encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------- reading

_COLUMNS = {
    "review_id": ("review_id", "id", "리뷰id", "리뷰_id"),
    "product_id": ("product_id", "product", "sku", "item_id", "상품id", "상품_id", "상품"),
    "text": ("text", "review", "reviews", "body", "content", "comment", "리뷰", "내용", "후기"),
    "stars": ("stars", "rating", "ratings", "star", "star_score", "score", "별점", "평점"),
    "date": ("date", "created", "created_at", "작성일", "날짜"),
}


def read_reviews(path: Path, product: str | None = None, stars_max: float = 5.0,
                 mapping: dict[str, str] | None = None) -> list[Review]:
    """Reviews from a CSV/TSV, JSONL or XLSX file. Columns are found by name (text/review/리뷰, stars/rating/
    별점, product_id/sku/상품, review_id/id, date/작성일) or given in `mapping` (field → column). Without a
    product column, `product` names the one product every row reviews. Stars are rescaled from 0–`stars_max`
    to 1–5. A bad row stops the read with its row number: nothing is half-read."""
    from inhouse.ingest.loaders import RECORD_READERS, record_fields

    path = Path(path)
    reader = RECORD_READERS.get(path.suffix.lower())
    if reader is None:
        raise InputError(f"{path.name}: reviews are read from .csv, .tsv, .jsonl or .xlsx files.")
    if not path.is_file():
        raise NotFoundError(f"{path}: no such file.")
    mapping = mapping or {}
    unknown = set(mapping) - set(_COLUMNS)
    if unknown:
        raise InputError(f"unknown review field(s) {sorted(unknown)}; map any of {sorted(_COLUMNS)}.")
    out: list[Review] = []
    seen: set[str] = set()
    for row, rec in reader(path.read_bytes(), path.name):
        where = f"{path.name} row {row}"
        fields = record_fields(rec, _COLUMNS, mapping)
        text = fields["text"]
        if text is None or not str(text).strip():
            raise InputError(f"{where}: no review text; name the text column with --map text=COLUMN.")
        pid = fields["product_id"]
        pid = str(pid).strip() if pid not in (None, "") else product
        if not pid:
            raise InputError(f"{where}: no product id; add a product_id column or pass --product ID.")
        raw = fields["stars"]
        stars = None
        if raw not in (None, ""):
            try:
                value = float(str(raw).strip())
            except ValueError:
                raise InputError(f"{where}: stars {raw!r} is not a number.") from None
            if not 0 <= value <= stars_max:
                raise InputError(f"{where}: stars {value:g} is outside 0–{stars_max:g}; pass --stars-max with "
                                 "the scale the file uses (e.g. 100).")
            stars = round(max(1.0, value * 5.0 / stars_max), 2)
        rid = fields["review_id"]
        rid = str(rid).strip() if rid not in (None, "") else f"{pid}:{row}"
        if rid in seen:
            raise InputError(f"{where}: review id {rid!r} appears twice in the file.")
        seen.add(rid)
        date = fields["date"]
        out.append(Review(rid, pid, str(text).strip(), stars, "" if date is None else str(date).strip()))
    if not out:
        raise InputError(f"{path.name}: no reviews found; check that the file has a header row and data rows.")
    return out


# ----------------------------------------------------------------------------------------- clauses, aspects

# Contrast: a new opinion starts after these (the connective stays with the clause it ends).
_KO_CUT = re.compile(r"(?<=[가-힣])(?:지만|는데|은데|던데|인데|으나)[,\s]+")
# …and before these (a conjunction opens the clause it belongs to).
_KO_OPEN = re.compile(r"(?<![가-힣])(?:하지만|그렇지만|그치만|그런데|근데|그러나|다만|반면)(?![가-힣])")
_KO_CONJUNCTIONS = frozenset({"하지만", "그렇지만", "그치만", "그런데", "근데", "그러나"})
_EN_CUT = re.compile(r"(?:,|;|\s)\s*(?=(?:but|however|although|though|except|yet|whereas)\b)", re.IGNORECASE)
_MAX_QUOTE = 240  # characters; a longer clause is cut at commas


def clauses(text: str, sentences: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Clause spans of `text` within its sentence spans."""
    spans: list[tuple[int, int]] = []
    for s, e in sentences:
        piece = text[s:e]
        after = [m for m in _KO_CUT.finditer(piece)
                 if piece[piece.rfind(" ", 0, m.start()) + 1: m.end()].strip(", \n") not in _KO_CONJUNCTIONS]
        cuts = [s] + [s + m.end() for m in after] + [s + m.start() for m in _KO_OPEN.finditer(piece)] + \
            [s + m.end() for m in _EN_CUT.finditer(piece)] + [e]
        cuts = sorted(set(cuts))
        for a, b in zip(cuts, cuts[1:], strict=False):
            while b - a > _MAX_QUOTE:
                comma = text.rfind(",", a + 20, a + _MAX_QUOTE)
                mid = comma + 1 if comma > 0 else a + _MAX_QUOTE
                spans.append((a, mid))
                a = mid
            spans.append((a, b))
    out = []
    for a, b in spans:
        while a < b and (text[a].isspace() or text[a] in ",;"):
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b - a >= 2:
            out.append((a, b))
    return out


# Nouns that name no aspect of a product: the review itself, people, time, amounts.
_KO_GENERIC = frozenset(
    """것 거 수 때 점 등 중 후 전 번 개 분 년 월 일 시 안 정도 생각 느낌 부분 제품 상품 구매 구입 사용 이번 처음
    다음 진짜 정말 하나 여러 자체 경우 이거 그거 저 제 나 너 우리 사람 분들 리뷰 후기 최고 만족 감사 추천 이상 이하
    마음 기분 조금 좀 가지 그냥 완전 계속 항상 다시 이것 저것 모두 모든 대박 짱 굿 문제 고민 선택 기대 걱정 주문
    상태 사진 동안 이후 이전 요즘 오늘 내일 어제 당일 지금 나중 지난 이제 처음 마지막 정품 감 맘 곳 집 앞 평 입
    아들 딸 아이 엄마 아빠 남편 와이프 아내 부모 부모님 친구 가족 선물 기존 필요 대비 번창 세대 평소 가능 비교 이용
    걸 말 방""".split())
_EN_GENERIC = frozenset(
    """one thing things way time times product item purchase price-point money day days week weeks month months
    year years review reviews lot bit star stars problem problems issue issues fact reason part kind sort
    order company everything anything nothing something other others rest same first last end use""".split())
_EN_DETERMINERS = frozenset("the its this these those my our their your his her".split())
_EN_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]")


@dataclass
class Aspect:
    name: str
    terms: frozenset[str]  # Korean noun forms and English stems that mention it

    def to_dict(self) -> dict:
        return {"name": self.name, "terms": sorted(self.terms)}


def aspect_terms(name: str) -> frozenset[str]:
    """The terms that mention an aspect given by name: its Korean nouns as written, its English words stemmed
    ("batteries" mentions "battery")."""
    if not name.strip():
        raise InputError("an aspect needs a name.")
    return frozenset([*re.findall(r"[가-힣]+", name), *_en_stems(name)])


def _ko_nouns(analysis, a: int, b: int) -> set[str]:  # noqa: ANN001 - an Analysis
    return {t.form for t in analysis.tokens if t.tag == "NNG" and a <= t.start and t.start + t.len <= b
            and t.form not in _KO_GENERIC}


def _en_stems(text: str) -> list[str]:
    return [stem(w.casefold()) for w in _EN_WORD.findall(text)]


def mine_aspects(texts: Iterable[str], top: int = 40, min_share: float = 0.005, min_reviews: int = 3) -> list[Aspect]:
    """The aspects a shop's reviews talk about: Korean nouns and English nouns (a word that follows "the",
    "its", "my" …) that at least `min_share` of the reviews (and `min_reviews`) use, most used first."""
    texts = list(texts)
    df: Counter[str] = Counter()
    shown: dict[str, Counter[str]] = {}
    for analysis in analyze(texts):
        found: set[str] = set()
        if analysis.tokens:
            found |= {f"ko:{n}" for n in _ko_nouns(analysis, 0, len(analysis.text))}
        words = _EN_WORD.findall(analysis.text)
        for prev, w in zip(words, words[1:], strict=False):
            low = w.casefold()
            if prev.casefold() in _EN_DETERMINERS and low not in _EN_GENERIC and len(low) > 2 \
                    and low not in _EN_DETERMINERS:
                key = f"en:{stem(low)}"
                found.add(key)
                shown.setdefault(key, Counter())[low] += 1
        df.update(found)
    floor = max(min_reviews, int(min_share * len(texts)))
    aspects = []
    for key, n in df.most_common():
        if n < floor or len(aspects) >= top:
            break
        lang, term = key.split(":", 1)
        name = shown[key].most_common(1)[0][0] if lang == "en" else term
        aspects.append(Aspect(name, frozenset({term})))
    return aspects


def mentions(analysis, span: tuple[int, int], aspects: Sequence[Aspect]) -> list[tuple[str, int, int]]:  # noqa: ANN001
    """The aspects a clause mentions, each with the span of its first mention: (aspect, start, end)."""
    a, b = span
    found: dict[str, tuple[int, int]] = {}
    for t in analysis.tokens:
        if t.tag == "NNG" and a <= t.start and t.start + t.len <= b:
            for x in aspects:
                if t.form in x.terms and x.name not in found:
                    found[x.name] = (t.start, t.start + t.len)
    for m in _EN_WORD.finditer(analysis.text, a, b):
        st = stem(m.group(0).casefold())
        for x in aspects:
            if st in x.terms and x.name not in found:
                found[x.name] = (m.start(), m.end())
    return [(name, s, e) for name, (s, e) in sorted(found.items(), key=lambda kv: kv[1])]


def views(text: str, sentence: tuple[int, int], term: tuple[int, int], aspect: str, words: int = 5,
          context: int = 30) -> tuple[str, str]:
    """What the opinion classifier reads of one mention: its sentence (at most `context` words either side)
    with the aspect marked and named ("battery: … the [battery] dies fast"), and the `words` words either
    side of it."""
    s, e = sentence
    a, b = term
    left, right = text[s:a].split(), text[b:e].split()
    mark = f"[{text[a:b]}]"
    marked = " ".join([f"{aspect}:", *left[-context:], mark, *right[:context]])
    window = " ".join([*left[-words:], mark, *right[:words]])
    return marked, window


def review_mentions(text: str, analysis, aspects: Sequence[Aspect]  # noqa: ANN001 - an Analysis of text
                    ) -> Iterator[tuple[tuple[int, int], str, tuple[str, str]]]:
    """Each aspect mention of a review: (its clause's span, the aspect, the classifier's `views` of it)."""
    for sentence in analysis.sentences:
        for clause in clauses(text, [sentence]):
            for name, ts, te in mentions(analysis, clause, aspects):
                yield clause, name, views(text, sentence, (ts, te), name)


# ------------------------------------------------------------------------------------------------ polarity

class Polarity:
    """A linear opinion classifier (multinomial logistic regression) over the e5 embeddings of a mention's
    two `views`. Trained on labelled opinions (`fit`); when those have no neutral class, a mention whose
    positive and negative probabilities are within `margin` is neutral. Weights are a small JSON file."""

    def __init__(self, embedder, classes: Sequence[str] = (), weights: np.ndarray | None = None,  # noqa: ANN001
                 bias: np.ndarray | None = None, margin: float = 0.2, trained_on: str = "") -> None:
        self.embedder = embedder
        self.classes = list(classes)
        self.weights = weights
        self.bias = bias
        self.margin = margin
        self.trained_on = trained_on

    # Embeddings by (embedder, text), shared by every classifier in the process: short clauses such as
    # "배송 빨라요" recur across thousands of reviews, and a retrained classifier reads the same texts.
    _seen: dict[tuple[str, str], np.ndarray] = {}
    _SEEN_MAX = 50_000  # 384 float32 each: at most ~75 MB

    @classmethod
    def forget(cls) -> None:
        cls._seen.clear()

    def features(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """[embedding of the marked sentence, embedding of the window] per mention."""
        name = self.embedder.name
        new = list(dict.fromkeys(t for pair in pairs for t in pair if (name, t) not in self._seen))
        got = dict(zip(new, self.embedder.embed(new), strict=True)) if new else {}

        def vec(t: str) -> np.ndarray:
            return got[t] if t in got else self._seen[(name, t)]

        x = np.stack([np.concatenate([vec(m), vec(w)]) for m, w in pairs]) if pairs else \
            np.zeros((0, 2 * self.embedder.dim), dtype=np.float32)
        if len(self._seen) + len(got) > self._SEEN_MAX:
            self.forget()
        self._seen.update({(name, t): v for t, v in got.items()})
        return x

    def fit(self, pairs: Sequence[tuple[str, str]], labels: Sequence[str], c: float = 1.0,
            trained_on: str = "", balanced: bool = False) -> Polarity:
        """Train on mentions' `views` and their labels; `balanced` weighs each class alike (for labels whose
        mix says more about the shop than about the text, such as stars on a shop where most are five)."""
        from sklearn.linear_model import LogisticRegression

        bad = sorted(set(labels) - set(POLARITIES))
        if bad:
            raise InputError(f"unknown opinion label(s) {bad}; use {', '.join(POLARITIES)}.")
        if not {"positive", "negative"} <= set(labels):
            raise InputError("training the opinion classifier needs positive and negative examples.")
        clf = LogisticRegression(C=c, max_iter=3000, class_weight="balanced" if balanced else None)
        clf.fit(self.features(pairs), list(labels))
        self.classes = [str(k) for k in clf.classes_]
        coef, bias = clf.coef_, clf.intercept_
        if len(self.classes) == 2:  # binary LR keeps one row: make it one row per class
            coef, bias = np.vstack([-coef[0] / 2, coef[0] / 2]), np.array([-bias[0] / 2, bias[0] / 2])
        self.weights, self.bias = coef.astype(np.float32), bias.astype(np.float32)
        self.trained_on = trained_on
        return self

    def predict(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, float]]:
        """(polarity, confidence) of each mention."""
        if self.weights is None or self.bias is None:
            raise StoreError("the opinion classifier is not trained.")
        if not pairs:
            return []
        z = self.features(pairs) @ self.weights.T + self.bias
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        out = []
        for row in p:
            k = int(row.argmax())
            label, conf = self.classes[k], float(row[k])
            if "neutral" not in self.classes and conf - 0.5 < self.margin / 2:
                label = "neutral"
            out.append((label, round(conf, 4)))
        return out

    def fingerprint(self) -> str:
        h = hashlib.sha256(json.dumps([self.embedder.name, self.classes, self.margin]).encode())
        h.update(np.asarray(self.weights, dtype=np.float32).tobytes())
        return h.hexdigest()[:16]

    def save(self, path: Path) -> None:
        if self.weights is None or self.bias is None:
            raise StoreError("the opinion classifier is not trained.")
        atomic_write_json(Path(path), {"embedder": self.embedder.name, "classes": self.classes,
                                       "weights": self.weights.tolist(), "bias": self.bias.tolist(),
                                       "margin": self.margin, "trained_on": self.trained_on})

    @classmethod
    def load(cls, path: Path, embedder) -> Polarity:  # noqa: ANN001
        try:
            data = json.loads(Path(path).read_text("utf-8"))
            if data.get("embedder") != embedder.name:
                raise InputError(f"{path}: trained over embedder {data.get('embedder')!r}, not {embedder.name!r}.")
            return cls(embedder, data["classes"], np.asarray(data["weights"], dtype=np.float32),
                       np.asarray(data["bias"], dtype=np.float32), float(data.get("margin", 0.2)),
                       str(data.get("trained_on", "")))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InputError(f"{path}: not an opinion classifier file ({type(e).__name__}: {e}).") from e


def star_examples(reviews: Sequence[Review], aspects: Sequence[Aspect], per_class: int = 4000,
                  seed: int = 0) -> tuple[list[tuple[str, str]], list[str]]:
    """Opinion examples labelled by the reviewer's own stars: the mentions in 5-star reviews as positive, in
    1–2-star reviews as negative (3–4 stars are mixed and left out); at most `per_class` of each, drawn at
    random. Noisy (a 5-star review may still grumble), but in the shop's own language and products."""
    rng = np.random.default_rng(seed)
    chosen = [r for r in reviews if r.stars is not None and (r.stars >= 4.75 or r.stars <= 2.25)]
    pairs: dict[str, list[tuple[str, str]]] = {"positive": [], "negative": []}
    for r, analysis in zip(chosen, analyze([r.text for r in chosen]), strict=True):
        label = "positive" if r.stars >= 4.75 else "negative"
        pairs[label].extend(v for _clause, _name, v in review_mentions(r.text, analysis, aspects))
    x: list[tuple[str, str]] = []
    y: list[str] = []
    for label, found in pairs.items():
        for i in rng.permutation(len(found))[:per_class]:
            x.append(found[int(i)])
            y.append(label)
    return x, y


# ------------------------------------------------------------------------------------------------ summaries

@dataclass
class Quote:
    review_id: str
    text: str
    start: int
    end: int
    polarity: str
    confidence: float
    stars: float | None


@dataclass
class AspectSummary:
    aspect: str
    positive: int = 0
    negative: int = 0
    neutral: int = 0
    pros: list[Quote] = field(default_factory=list)
    cons: list[Quote] = field(default_factory=list)

    @property
    def mentions(self) -> int:
        return self.positive + self.negative + self.neutral


@dataclass
class Summary:
    product_id: str
    reviews: int
    stars: float | None
    aspects: list[AspectSummary]

    def to_dict(self) -> dict:
        return {"product_id": self.product_id, "reviews": self.reviews, "stars": self.stars,
                "aspects": [{**asdict(a), "mentions": a.mentions} for a in self.aspects]}


class ReviewStore(ShopDB):
    """One shop's reviews and their cached analysis, in SQLite. Thread-safe: one connection, one lock."""

    SCHEMA = SCHEMA
    WHAT = "review database"
    REBUILD = "add the shop's reviews again with `inhouse commerce reviews add`"

    def _meta(self, key: str) -> str | None:
        row = self._rows("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0][0] if row else None

    # ---- reviews ----------------------------------------------------------------------------------------

    def add(self, reviews: Sequence[Review]) -> dict[str, int]:
        """Add reviews in one transaction; a review id seen before with other text or stars is updated (and
        analysed again). Returns counts of new, changed and unchanged reviews."""
        counts = Counter({"new": 0, "changed": 0, "unchanged": 0})
        with self.transaction() as c:
            seq = c.execute("SELECT COALESCE(MAX(seq), 0) FROM reviews").fetchone()[0]
            for r in reviews:
                old = c.execute("SELECT sha, stars, date FROM reviews WHERE review_id = ?", (r.review_id,)).fetchone()
                if old is None:
                    seq += 1
                    c.execute("INSERT INTO reviews VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (r.review_id, r.product_id, r.text, r.stars, r.date, r.sha, seq))
                    counts["new"] += 1
                elif tuple(old) != (r.sha, r.stars, r.date):
                    c.execute("UPDATE reviews SET product_id = ?, text = ?, stars = ?, date = ?, sha = ? "
                              "WHERE review_id = ?", (r.product_id, r.text, r.stars, r.date, r.sha, r.review_id))
                    counts["changed"] += 1
                else:
                    counts["unchanged"] += 1
        return dict(counts)

    def count(self) -> int:
        return self._rows("SELECT COUNT(*) FROM reviews")[0][0]

    def products(self) -> list[dict]:
        return [{"product_id": p, "reviews": n, "stars": None if s is None else round(s, 2)} for p, n, s in self._rows(
            "SELECT product_id, COUNT(*), AVG(stars) FROM reviews GROUP BY product_id ORDER BY COUNT(*) DESC")]

    def texts(self) -> list[str]:
        return [t for (t,) in self._rows("SELECT text FROM reviews ORDER BY seq")]

    def iter_reviews(self) -> Iterator[Review]:
        for rid, pid, text, stars, date in self._rows(
                "SELECT review_id, product_id, text, stars, date FROM reviews ORDER BY seq"):
            yield Review(rid, pid, text, stars, date)

    # ---- aspects ----------------------------------------------------------------------------------------

    def aspects(self) -> list[Aspect]:
        raw = self._meta("aspects")
        return [Aspect(a["name"], frozenset(a["terms"])) for a in json.loads(raw)] if raw else []

    def set_aspects(self, aspects: Sequence[Aspect]) -> None:
        """The shop's aspects (mined or given); changing them marks every review for analysis again."""
        if not aspects:
            raise InputError("no aspects: add reviews first (aspects are mined from them) or give a list.")
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO meta VALUES ('aspects', ?)",
                      (json.dumps([a.to_dict() for a in aspects], ensure_ascii=False),))

    def _version(self) -> str:
        return hashlib.sha256(f"{ANALYSIS_VERSION}\x00{self._meta('aspects')}\x00{self._meta('polarity')}"
                              .encode()).hexdigest()[:16]

    # ---- analysis ---------------------------------------------------------------------------------------

    def pending(self) -> int:
        """How many reviews need analysing (new, edited, or analysed under other aspects or classifier)."""
        return self._rows("SELECT COUNT(*) FROM reviews r LEFT JOIN analysed a ON a.review_id = r.review_id "
                          "WHERE a.sha IS NULL OR a.sha != r.sha OR a.version != ?", (self._version(),))[0][0]

    def analyse(self, polarity: Polarity, batch: int = 256, progress=None) -> int:  # noqa: ANN001
        """Analyse the pending reviews, `batch` at a time, each batch one transaction (an interrupted run
        keeps what it finished). `progress(n)` is called after each batch. Returns how many were analysed."""
        aspects = self.aspects()
        if not aspects:
            raise InputError("the shop has no aspects yet; run `inhouse commerce reviews aspects` first.")
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO meta VALUES ('polarity', ?)", (polarity.fingerprint(),))
        version = self._version()
        done = 0
        while True:
            rows = self._rows("SELECT r.review_id, r.text, r.sha FROM reviews r LEFT JOIN analysed a "
                              "ON a.review_id = r.review_id WHERE a.sha IS NULL OR a.sha != r.sha OR a.version != ? "
                              "ORDER BY r.seq LIMIT ?", (version, batch))
            if not rows:
                return done
            found: list[tuple[str, int, int, str]] = []
            pairs: list[tuple[str, str]] = []
            for (rid, text, _sha), analysis in zip(rows, analyze([t for _, t, _ in rows]), strict=True):
                for (a, b), name, v in review_mentions(text, analysis, aspects):
                    found.append((rid, a, b, name))
                    pairs.append(v)
            labels = polarity.predict(pairs)
            with self.transaction() as c:
                for rid, _text, sha in rows:
                    c.execute("DELETE FROM mentions WHERE review_id = ?", (rid,))
                    c.execute("INSERT OR REPLACE INTO analysed VALUES (?, ?, ?)", (rid, sha, version))
                c.executemany("INSERT OR IGNORE INTO mentions VALUES (?, ?, ?, ?, ?, ?)",
                              [(rid, a, b, name, pol, conf) for (rid, a, b, name), (pol, conf) in zip(found, labels,
                                                                                                    strict=True)])
            done += len(rows)
            if progress is not None:
                progress(len(rows))

    def opinions(self) -> list[tuple[str, str]]:
        """(review id, polarity) of every positive or negative mention."""
        return [(r, p) for r, p in self._rows("SELECT review_id, polarity FROM mentions WHERE polarity != 'neutral'")]

    def mention_count(self) -> int:
        return self._rows("SELECT COUNT(*) FROM mentions")[0][0]

    def aspect_counts(self, evidence: int = 3) -> dict[str, dict[str, tuple[int, int, list[str]]]]:
        """Per product and aspect: positive and negative mentions, and up to `evidence` reviews that say so
        (the surest first), for search to rank by and cite."""
        out: dict[str, dict[str, tuple[int, int, list[str]]]] = {}
        rows = self._rows("SELECT r.product_id, m.aspect, m.polarity, m.review_id FROM mentions m JOIN reviews r "
                          "ON r.review_id = m.review_id WHERE m.polarity != 'neutral' "
                          "ORDER BY m.confidence DESC, r.seq")
        for pid, aspect, pol, rid in rows:
            pos, neg, ids = out.setdefault(pid, {}).get(aspect, (0, 0, []))
            if len(ids) < evidence and rid not in ids:
                ids = [*ids, rid]
            out[pid][aspect] = (pos + (pol == "positive"), neg + (pol == "negative"), ids)
        return out

    def summary(self, product_id: str, quotes: int = 3, min_mentions: int = 1) -> Summary:
        """The product's aspects, most mentioned first, with counts and up to `quotes` pros and cons each."""
        head = self._rows("SELECT COUNT(*), AVG(stars) FROM reviews WHERE product_id = ?", (product_id,))[0]
        if not head[0]:
            raise NotFoundError(f"no reviews of product {product_id!r}; `inhouse commerce reviews products` "
                                "lists the reviewed ones.")
        if self.pending():
            raise StoreError("some reviews are not analysed yet; run `inhouse commerce reviews analyse` first.")
        rows = self._rows("SELECT m.review_id, m.start, m.\"end\", m.aspect, m.polarity, m.confidence, r.stars, "
                          "r.text FROM mentions m JOIN reviews r ON r.review_id = m.review_id WHERE r.product_id = ? "
                          "ORDER BY r.seq, m.start", (product_id,))
        by_aspect: dict[str, AspectSummary] = {}
        for rid, a, b, name, pol, conf, stars, text in rows:
            s = by_aspect.setdefault(name, AspectSummary(name))
            setattr(s, pol, getattr(s, pol) + 1)
            if pol != "neutral":
                (s.pros if pol == "positive" else s.cons).append(Quote(rid, text[a:b], a, b, pol, conf, stars))
        for s in by_aspect.values():
            # Distinct quotes; surest first, then the reviewer's own verdict agreeing, then the shorter.
            s.pros = _top(s.pros, quotes, lambda q: (-q.confidence, -(q.stars or 3), len(q.text)))
            s.cons = _top(s.cons, quotes, lambda q: (-q.confidence, q.stars or 3, len(q.text)))
        ranked = sorted((s for s in by_aspect.values() if s.mentions >= min_mentions),
                        key=lambda s: (-s.mentions, s.aspect))
        return Summary(product_id, head[0], None if head[1] is None else round(head[1], 2), ranked)


def _top(quotes: list[Quote], k: int, key) -> list[Quote]:  # noqa: ANN001
    out: list[Quote] = []
    seen: set[str] = set()
    for q in sorted(quotes, key=key):
        if q.text not in seen:
            seen.add(q.text)
            out.append(q)
        if len(out) >= k:
            break
    return out


def reviews_path(tenant: str, base: Path | None = None) -> Path:
    return tenant_dir("commerce", tenant, base) / "reviews.sqlite"


def reviews_if_any(tenant: str, base: Path | None = None) -> ReviewStore | None:
    """The tenant's review database, or None when it has no reviews (search works without them)."""
    path = reviews_path(tenant, base)
    return ReviewStore(path) if path.exists() else None


def open_reviews(tenant: str, create: bool = False, base: Path | None = None) -> ReviewStore:
    """The tenant's review database, `home()/commerce/<tenant>/reviews.sqlite` (under `base` if given)."""
    path = reviews_path(tenant, base)
    if not create and not path.exists():
        raise NotFoundError(f"tenant {tenant} has no reviews; add some with "
                            f"`inhouse commerce reviews add --tenant {tenant} FILE`.")
    return ReviewStore(path)
