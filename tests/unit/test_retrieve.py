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
