from inhouse.retrieve import rrf, snippet


def test_rrf_rewards_agreement():
    fused = rrf({"lexical": [1, 2, 3], "dense": [3, 1, 4]}, {"lexical": 1.0, "dense": 1.0}, k=60)
    assert [cid for cid, _, _ in fused] == [1, 3, 2, 4]
    assert fused[0][2] == {"lexical": 1, "dense": 2}


def test_rrf_weights():
    fused = rrf({"lexical": [1, 2], "dense": [2, 1]}, {"lexical": 0.1, "dense": 1.0}, k=60)
    assert fused[0][0] == 2


def test_snippet_highlights_and_windows():
    text = "앞부분 " * 80 + "반품은 수령 후 14일 이내에 가능합니다. " + "뒷부분 " * 80
    s = snippet(text, ["반품", "14"], width=120)
    assert "**반품**" in s and s.startswith("…") and s.endswith("…")
    assert snippet("Equipment stipend", ["equipment"]) == "**Equipment** stipend"


def test_lexical_search_finds_spaced_names_and_accented_words(tmp_path, store, settings):
    from inhouse.ingest import ingest
    from inhouse.retrieve import search
    from inhouse.types import Principal

    d = tmp_path / "docs"
    d.mkdir()
    (d / "doll.md").write_text("# 인형\n\n캐시 크루즈 회사는 1990년에 경영권을 넘겼다.\n", "utf-8")
    (d / "bank.md").write_text("# Offices\n\nThe bank opened its office in Zürich in 2001.\n", "utf-8")
    (d / "other.md").write_text("# 기타\n\n회사의 경영 방침은 매년 바뀐다.\n", "utf-8")
    ingest(store, settings, [d], "acme", ["staff"])
    who = Principal("acme", "kim", ("staff",))
    assert search(store, who, "캐시 크루즈", settings, mode="lexical").hits[0].doc_path.endswith("doll.md")
    assert search(store, who, "Zurich office", settings, mode="lexical").hits[0].doc_path.endswith("bank.md")
