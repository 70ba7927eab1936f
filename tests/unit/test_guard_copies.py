"""The copy guard: replies that repeat text contributed for training only are withheld, and a stream never sends
`min_chars` characters of a copy."""

from __future__ import annotations

from inhouse.consortium import CopyFilter
from inhouse.guard import copies
from inhouse.guard.view import ReaderView
from inhouse.types import Principal

SECRET = ("파트너가 학습용으로만 제공한 문장입니다. 이 문장은 검색에도 답변에도 그대로 나오면 안 되며 모델이 외워서 "
          "말해도 막혀야 합니다.")


def _guard() -> CopyFilter:
    f = CopyFilter(min_chars=50)
    f.add([(1, SECRET)])
    return f


def test_nothing_changes_without_a_guard():
    assert copies.installed() is None
    assert copies.screen(SECRET) == SECRET
    got = []
    feed, flush = copies.streaming(got.append)
    feed(SECRET)
    flush()
    assert "".join(got) == SECRET


def test_a_copy_is_withheld_whole_and_in_a_stream():
    copies.install(_guard())
    assert copies.screen("답: " + SECRET) == copies.WITHHELD
    plain = "평범한 답변입니다. 반품은 14일 안에 가능합니다."
    assert copies.screen(plain) == plain
    got: list[str] = []
    feed, flush = copies.streaming(got.append)
    for piece in ["답변: ", *[SECRET[i: i + 3] for i in range(0, len(SECRET), 3)]]:
        feed(piece)
    flush()
    sent = "".join(got)
    assert sent.endswith(copies.WITHHELD)
    leaked = sent.removesuffix(copies.WITHHELD)
    assert _guard().check(leaked) is None  # fewer than 50 characters of the copy went out
    ordinary: list[str] = []
    feed, flush = copies.streaming(ordinary.append)
    for word in "반품은 상품을 받은 날부터 14일 안에 신청할 수 있습니다. 단순 변심은 왕복 배송비가 듭니다.".split(" "):
        feed(word + " ")
    flush()
    assert "".join(ordinary).startswith("반품은 상품을") and copies.WITHHELD not in "".join(ordinary)


def test_every_reader_view_applies_the_guard():
    copies.install(_guard())
    view = ReaderView(Principal("acme", "kim"))
    assert view.text(SECRET) == copies.WITHHELD
    assert view.written(SECRET, set()) == copies.WITHHELD
    assert ReaderView.unguarded(Principal("acme", "kim")).written(SECRET, set()) == copies.WITHHELD
    got: list[str] = []
    feed, flush = view.stream(got.append, set())
    feed(SECRET)
    flush()
    assert "".join(got) == copies.WITHHELD


def test_a_reply_completing_the_users_prefix_is_caught_but_a_quote_alone_is_not():
    copies.install(_guard())
    prefix, rest = SECRET[:45], SECRET[45:70]
    assert copies.screen(rest) == rest  # alone, too short to be a copy
    assert copies.screen(rest, context="이어서 써 줘: " + prefix) == copies.WITHHELD
    # The user quoted it; the reply did not.
    assert copies.screen("네, 알겠습니다.", context=SECRET) == "네, 알겠습니다."
    got: list[str] = []
    feed, flush = copies.streaming(got.append, context=prefix)
    for piece in rest:
        feed(piece)
    flush()
    assert "".join(got) == copies.WITHHELD


def test_a_stream_is_not_held_back_when_there_is_nothing_to_guard(tmp_path):
    from inhouse.consortium.filter import LiveCopyFilter

    copies.install(LiveCopyFilter(tmp_path))  # no consortium under this home
    got: list[str] = []
    feed, flush = copies.streaming(got.append)
    feed("안녕하세요")
    assert got == ["안녕하세요"]  # passed on at once
    flush()
