"""A user never receives a chunk outside their tenant and groups: not as a hit, a snippet or a score,
not even for queries made of text that appears only in that chunk."""

from __future__ import annotations

from pathlib import Path

import pytest

from inhouse.config import Settings
from inhouse.ingest import embed_pending, ingest
from inhouse.models.embedders import load_embedder
from inhouse.retrieve import search
from inhouse.store import SQLiteStore
from inhouse.types import Principal


@pytest.fixture
def store(any_store):
    """Every test here runs on each backend."""
    return any_store


SECRETS = {
    # (tenant, groups) -> text only that audience may read
    ("acme", ("hr",)): "임원 성과급은 기본급의 47퍼센트로 책정되었습니다. "
                       "Executive bonus pool is 47 percent of base pay.",
    ("acme", ("finance",)): "인수합병 대상 회사의 코드명은 블루웨일이며 매수가는 1,250억원입니다. "
                            "Acquisition codename Bluewhale.",
    ("globex", ()): "글로벡스의 신제품 출시일은 2027년 3월 15일입니다. Globex launches the Hoverboard on March 15.",
}
MARKERS = {("acme", ("hr",)): "47퍼센트", ("acme", ("finance",)): "블루웨일", ("globex", ()): "Hoverboard"}
PUBLIC = "반품은 수령 후 14일 이내에 가능합니다. Returns are accepted within 14 days. 성과급 코드명 출시일 bonus."


@pytest.fixture(params=["hash", "e5-small"])
def kb(request, tmp_path: Path, store: SQLiteStore, settings: Settings):
    settings.embedder = request.param
    for i, ((tenant, groups), text) in enumerate(SECRETS.items()):
        d = tmp_path / f"secret{i}"
        d.mkdir()
        (d / f"secret{i}.txt").write_text(text, "utf-8")
        ingest(store, settings, [d], tenant, groups)
    pub = tmp_path / "public"
    pub.mkdir()
    (pub / "public.txt").write_text(PUBLIC, "utf-8")
    ingest(store, settings, [pub], "acme", ())
    embedder = load_embedder(request.param)
    embed_pending(store, embedder)
    return store, settings, embedder


def _queries(text: str) -> list[str]:
    words = text.split()
    return [text, " ".join(words[:6]), " ".join(words[-5:]), words[2]]


PROBES = ["47퍼센트", "블루웨일 1,250억원", "Hoverboard", "성과급", "코드명"]


def _visible(tenant: str, groups: tuple[str, ...], owner: tuple[str, tuple[str, ...]]) -> bool:
    o_tenant, o_groups = owner
    return tenant == o_tenant and (not o_groups or bool(set(groups) & set(o_groups)))


@pytest.mark.parametrize("mode", ["lexical", "dense", "hybrid"])
def test_no_result_crosses_groups_or_tenants(kb, mode):
    store, settings, embedder = kb
    principals = [Principal("acme", "kim", ("staff",)), Principal("acme", "lee", ("hr",)),
                  Principal("acme", "park", ("finance", "staff")), Principal("globex", "choi", ("hr", "finance")),
                  Principal("initech", "x", ("hr",))]
    for p in principals:
        for owner, secret in SECRETS.items():
            allowed = _visible(p.tenant, p.groups, owner)
            for q in _queries(secret) + PROBES:
                result = search(store, p, q, settings, k=50, mode=mode, embedder=embedder)
                leaked = [h for h in result.hits if secret[:20] in h.text or secret[:20] in h.snippet.replace("**", "")]
                if not allowed:
                    assert leaked == [], (p, q)
                    texts = " ".join(h.text + h.snippet for h in result.hits)
                    assert MARKERS[owner] not in texts, (p, q)
                elif q in _queries(secret) and (mode != "dense" or embedder.name == "e5-small"):
                    assert leaked, (p, q)  # the owner does find it


def test_other_tenant_sees_nothing_at_all(kb):
    store, settings, embedder = kb
    result = search(store, Principal("initech", "x", ("hr", "finance", "staff")), "성과급 Executive bonus", settings,
                    embedder=embedder)
    assert result.hits == []
