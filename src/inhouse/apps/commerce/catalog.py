"""A shop's catalog: products, and the items (variants) a customer buys, each with its spec options (colour,
size, room size, features …), price and stock, per shop tenant in SQLite.

Read from the τ-bench/JSON shape (`{product_id: {name, variants: {item_id: {options, price, available}}}}`)
or from rows (CSV/TSV, JSONL, XLSX), one row per item: the product's id and name, the item's id, price and
stock, and its spec as an `options` column (a JSON object or "name: value; name: value") and/or as any other
column, named by its header. Korean headers (상품명, 가격, 재고 …) are read alike.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inhouse.apps.commerce.shopdb import ShopDB
from inhouse.config import tenant_dir
from inhouse.errors import InputError, NotFoundError

SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
  product_id TEXT PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, description TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
  item_id TEXT PRIMARY KEY, product_id TEXT NOT NULL REFERENCES products(product_id) ON DELETE CASCADE,
  price REAL, available INTEGER NOT NULL, options TEXT NOT NULL, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS items_product ON items (product_id);
CREATE TABLE IF NOT EXISTS vectors (embedder TEXT NOT NULL, text TEXT NOT NULL, vec BLOB NOT NULL,
  PRIMARY KEY (embedder, text));
"""


@dataclass(frozen=True)
class Product:
    product_id: str
    name: str
    category: str = ""
    description: str = ""


@dataclass(frozen=True)
class Item:
    item_id: str
    product_id: str
    price: float | None
    available: bool = True
    options: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------- reading

_COLUMNS = {
    "product_id": ("product_id", "product", "상품id", "상품_id", "상품번호"),
    "name": ("name", "product_name", "title", "상품명", "제품명", "이름"),
    "item_id": ("item_id", "sku", "variant_id", "옵션id", "품목id", "단품id"),
    "price": ("price", "unit_price", "가격", "판매가", "price_krw", "price_usd"),
    "available": ("available", "in_stock", "stock", "재고", "판매여부"),
    "category": ("category", "분류", "카테고리"),
    "description": ("description", "설명", "상세설명"),
    "options": ("options", "specs", "spec", "옵션", "사양", "스펙"),
}
_KNOWN = {n for names in _COLUMNS.values() for n in names} | {"sheet"}
_TRUE = {"1", "true", "yes", "y", "o", "있음", "판매중", "예", "재고있음"}
_FALSE = {"0", "false", "no", "n", "x", "없음", "품절", "아니오", "재고없음", ""}


def _price(raw: Any, where: str) -> float | None:
    if raw in (None, ""):
        return None
    text = re.sub(r"[,\s$₩원]", "", str(raw))
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: price {raw!r} is not a number.") from None
    if not math.isfinite(value):
        raise InputError(f"{where}: price {raw!r} is not a number.")
    if value < 0:
        raise InputError(f"{where}: price {value:g} is negative.")
    return value


def _available(raw: Any, where: str) -> bool:
    if raw is None:
        return True
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, (int, float)):
        return raw > 0
    text = str(raw).strip().casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if text.isdigit():
        return int(text) > 0
    raise InputError(f"{where}: stock {raw!r} is neither yes/no nor a count.")


def _options(raw: Any, where: str) -> dict[str, str]:
    if raw in (None, ""):
        return {}
    if isinstance(raw, dict):
        pairs = raw.items()
    else:
        text = str(raw).strip()
        if text.startswith("{"):
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                raise InputError(f"{where}: options is not valid JSON ({e.msg}).") from e
            if not isinstance(obj, dict):
                raise InputError(f"{where}: options must be an object of name: value.")
            pairs = obj.items()
        else:
            pairs = []
            for part in re.split(r"[;|\n]", text):
                if not part.strip():
                    continue
                if ":" not in part:
                    raise InputError(f"{where}: option {part.strip()!r} has no ':'; write options as "
                                     "\"name: value; name: value\" or as a JSON object.")
                k, v = part.split(":", 1)
                pairs.append((k, v))
    out = {str(k).strip(): str(v).strip() for k, v in pairs if str(k).strip() and str(v).strip()}
    return out


def _fields(record: dict) -> tuple[dict[str, Any], dict[str, str]]:
    """The catalog fields of one row, and its other columns (spec options named by their header)."""
    from inhouse.ingest.loaders import record_fields

    fields = record_fields(record, _COLUMNS)
    extra = {str(k).strip(): str(v).strip() for k, v in record.items()
             if str(k).strip().casefold() not in _KNOWN and v not in (None, "") and str(v).strip()}
    return fields, extra


def _from_tau(data: Any, name: str) -> tuple[list[Product], list[Item]]:
    products, items = [], []
    if not isinstance(data, (dict, list)):
        raise InputError(f"{name}: a catalog is an object {{product_id: product}} or a list of products.")
    entries = list(data.items()) if isinstance(data, dict) else [(None, p) for p in data]
    for n, (key, p) in enumerate(entries, start=1):
        where = f"{name} product {n}"
        if not isinstance(p, dict) or not p.get("name") or not isinstance(p.get("variants"), dict):
            raise InputError(f"{where}: each product needs a name and variants {{item_id: {{options, price}}}}.")
        pid = str(p.get("product_id") or key or "").strip()
        if not pid:
            raise InputError(f"{where}: no product_id; give each product one (ids keep products apart "
                             "across files).")
        products.append(Product(pid, str(p["name"]).strip(), str(p.get("category") or ""),
                                str(p.get("description") or "")))
        for iid, v in p["variants"].items():
            if not isinstance(v, dict):
                raise InputError(f"{where} item {iid}: a variant is an object {{options, price, available}}.")
            items.append(Item(str(v.get("item_id") or iid), pid, _price(v.get("price"), f"{where} item {iid}"),
                              _available(v.get("available"), f"{where} item {iid}"),
                              _options(v.get("options"), f"{where} item {iid}")))
    return products, items


def read_catalog(path: Path) -> tuple[list[Product], list[Item]]:
    """Products and items from a catalog file; a bad row stops the read, naming the row (nothing is stored)."""
    from inhouse.ingest.loaders import RECORD_READERS, decode_text

    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"{path}: no such file.")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(decode_text(path.read_bytes(), path.name))
        except json.JSONDecodeError as e:
            raise InputError(f"{path.name}: not valid JSON ({e.msg} at line {e.lineno}).") from e
        products, items = _from_tau(data, path.name)
    else:
        reader = RECORD_READERS.get(path.suffix.lower())
        if reader is None:
            raise InputError(f"{path.name}: catalogs are read from .json, .csv, .tsv, .jsonl or .xlsx files.")
        by_id: dict[str, Product] = {}
        items = []
        for row, rec in reader(path.read_bytes(), path.name):
            where = f"{path.name} row {row}"
            f, extra = _fields(rec)
            name = str(f["name"] or "").strip()
            pid = str(f["product_id"] or "").strip() or name
            if not name and pid in by_id:
                name = by_id[pid].name
            if not name:
                raise InputError(f"{where}: no product name; add a name (상품명) column.")
            product = Product(pid, name, str(f["category"] or "").strip(), str(f["description"] or "").strip())
            old = by_id.setdefault(pid, product)
            if old.name != product.name:
                raise InputError(f"{where}: product {pid!r} is named {product.name!r} here and {old.name!r} "
                                 "above; one product id, one name.")
            iid = str(f["item_id"] or "").strip() or f"{pid}:{row}"
            items.append(Item(iid, pid, _price(f["price"], where), _available(f["available"], where),
                              {**extra, **_options(f["options"], where)}))
        products = list(by_id.values())
    seen: set[str] = set()
    for it in items:
        if it.item_id in seen:
            raise InputError(f"{path.name}: item id {it.item_id!r} appears twice.")
        seen.add(it.item_id)
    if not items:
        raise InputError(f"{path.name}: no items found; check that the file has a header row and data rows.")
    return products, items


# ---------------------------------------------------------------------------------------------------- storing

class CatalogStore(ShopDB):
    """One shop's catalog and the embeddings of its texts, in SQLite."""

    SCHEMA = SCHEMA
    WHAT = "catalog database"
    REBUILD = "add the shop's catalog again with `inhouse commerce catalog add`"

    def add(self, products: Sequence[Product], items: Sequence[Item], replace: bool = False) -> dict[str, int]:
        """Add or update products and items in one transaction; `replace` first removes the shop's catalog."""
        with self.transaction() as c:
            if replace:
                c.execute("DELETE FROM items")
                c.execute("DELETE FROM products")
            before = c.execute("SELECT COUNT(*) FROM items").fetchone()[0]
            seq = c.execute("SELECT COALESCE(MAX(seq), 0) FROM items").fetchone()[0]
            for p in products:
                c.execute("INSERT INTO products VALUES (?, ?, ?, ?) ON CONFLICT(product_id) DO UPDATE SET "
                          "name = excluded.name, category = excluded.category, description = excluded.description",
                          (p.product_id, p.name, p.category, p.description))
            for n, it in enumerate(items, start=seq + 1):
                c.execute("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(item_id) DO UPDATE SET "
                          "product_id = excluded.product_id, price = excluded.price, available = excluded.available, "
                          "options = excluded.options",
                          (it.item_id, it.product_id, it.price, int(it.available),
                           json.dumps(it.options, ensure_ascii=False), n))
            after = c.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        return {"products": len(products), "items": len(items), "new_items": after - before}

    def products(self) -> dict[str, Product]:
        return {r[0]: Product(*r) for r in self._rows("SELECT product_id, name, category, description FROM products")}

    def items(self) -> list[Item]:
        return [Item(iid, pid, price, bool(av), json.loads(opts)) for iid, pid, price, av, opts in self._rows(
            "SELECT item_id, product_id, price, available, options FROM items ORDER BY seq")]

    def count(self) -> tuple[int, int]:
        return (self._rows("SELECT COUNT(*) FROM products")[0][0], self._rows("SELECT COUNT(*) FROM items")[0][0])

    def vectors(self, embedder, texts: Sequence[str]) -> np.ndarray:  # noqa: ANN001 - an Embedder
        """Passage embeddings of `texts` by `embedder`: the cached ones read back, the others computed and
        stored."""
        uniq = list(dict.fromkeys(texts))
        have: dict[str, np.ndarray] = {}
        for i in range(0, len(uniq), 500):
            part = uniq[i:i + 500]
            rows = self._rows(f"SELECT text, vec FROM vectors WHERE embedder = ? AND text IN "
                              f"({','.join('?' * len(part))})", (embedder.name, *part))
            have.update({t: np.frombuffer(v, dtype=np.float32) for t, v in rows})
        new = [t for t in uniq if t not in have]
        if new:
            got = np.asarray(embedder.embed(new), dtype=np.float32)
            with self.transaction() as c:
                c.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                              [(embedder.name, t, v.tobytes()) for t, v in zip(new, got, strict=True)])
            have.update(zip(new, got, strict=True))
        return np.stack([have[t] for t in texts]) if texts else np.zeros((0, embedder.dim), dtype=np.float32)


def catalog_path(tenant: str, base: Path | None = None) -> Path:
    return tenant_dir("commerce", tenant, base) / "catalog.sqlite"


def open_catalog(tenant: str, create: bool = False, base: Path | None = None) -> CatalogStore:
    """The tenant's catalog database, `home()/commerce/<tenant>/catalog.sqlite` (under `base` if given)."""
    path = catalog_path(tenant, base)
    if not create and not path.exists():
        raise NotFoundError(f"tenant {tenant} has no catalog; add one with "
                            f"`inhouse commerce catalog add --tenant {tenant} FILE`.")
    return CatalogStore(path)
