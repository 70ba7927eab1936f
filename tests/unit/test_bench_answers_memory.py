"""bench/answers.py RememberedChat: a replay asks the model only what it never answered before."""

import importlib.util
import json
import sys
from pathlib import Path

from inhouse.models.chat import ScriptedChat
from inhouse.protocols import ChatModel, Reply

_BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(_BENCH))
_spec = importlib.util.spec_from_file_location("bench_answers", _BENCH / "answers.py")
answers = importlib.util.module_from_spec(_spec)
sys.modules["bench_answers"] = answers  # its dataclasses look their module up
_spec.loader.exec_module(answers)


def test_a_remembered_reply_is_given_again_without_the_model(tmp_path):
    loads = []

    def load():
        loads.append(1)
        return ScriptedChat("m", ["첫 답 [1].", "둘째 답 [2]."], [[-0.1, -0.2], [-0.3]])

    path = tmp_path / "replies.jsonl"
    chat = answers.RememberedChat("m", load, path)
    one = [{"role": "user", "content": "질문 하나"}]
    assert chat.complete(one, max_tokens=8) == Reply("첫 답 [1].", 2, (-0.1, -0.2), "stop")
    # The same messages again: the remembered reply, word by word as the model streamed it.
    pieces: list[str] = []
    assert chat.complete(one, max_tokens=8, on_piece=pieces.append).text == "첫 답 [1]." and loads == [1]
    assert pieces == ["첫", " 답", " [1]."]
    # Other messages (or another token limit) are asked of the model.
    assert chat.complete(one, max_tokens=9) == Reply("둘째 답 [2].", 1, (-0.3,), "stop")
    # A new instance reads the memory back and never loads the model.
    again = answers.RememberedChat("m", lambda: (_ for _ in ()).throw(AssertionError("loaded")), path)
    assert again.complete(one, max_tokens=9) == Reply("둘째 답 [2].", 1, (-0.3,), "stop")


def test_a_line_without_tokens_and_finish_is_read_as_before(tmp_path):
    """A memory line holding pieces and log-probabilities only: a reply of max_tokens pieces counts as cut."""
    path = tmp_path / "replies.jsonl"
    one = [{"role": "user", "content": "q"}]
    answers.RememberedChat("m", lambda: ScriptedChat("m", ["a b c"]), path).complete(one, max_tokens=3)
    entry = json.loads(path.read_text("utf-8"))
    assert entry["pieces"] == ["a", " b", " c"] and (entry["tokens"], entry["finish"]) == (3, "stop")
    path.write_text(json.dumps({k: entry[k] for k in ("key", "model", "pieces", "logprobs")}) + "\n", "utf-8")
    old = answers.RememberedChat("m", lambda: (_ for _ in ()).throw(AssertionError("loaded")), path)
    assert old.complete(one, max_tokens=3) == Reply("a b c", 3, (), "length")


def test_a_replay_asks_the_model_only_after_the_recorded_replies(tmp_path):
    model = answers.RememberedChat("m", lambda: ScriptedChat("m", ["새 답 [1]."], [[-0.5]]), tmp_path / "r.jsonl")
    chat = answers.ReplayChat(ScriptedChat("m", ["[1][2]"], [[-0.1]]), model, ["반품은 14일 안에 할 수 있다."])
    prompt = [{"role": "user", "content": "[1] 반품은 14일 안에 할 수 있다.\n질문: 반품 기간은?"}]
    assert chat.complete(prompt) == Reply("[1][2]", 1, (-0.1,)) and not chat.asked
    assert chat.complete([{"role": "user", "content": "follow"}]) == Reply("새 답 [1].", 1, (-0.5,)) and chat.asked
    assert not chat.redrafted


def test_a_prompt_without_the_recorded_sources_is_drafted_by_the_model(tmp_path):
    """Retrieval or selection changed since the run: the recorded draft is not even verified."""
    model = answers.RememberedChat("m", lambda: ScriptedChat("m", ["새 답 [1]."]), tmp_path / "r.jsonl")
    chat = answers.ReplayChat(ScriptedChat("m", ["옛 답 [1]."]), model, ["반품은 14일 안에 할 수 있다."])
    assert chat.complete([{"role": "user", "content": "[1] 배송은 3일 걸린다."}]).text == "새 답 [1]."
    assert chat.redrafted and chat.asked


def test_another_model_file_does_not_reuse_the_replies(tmp_path):
    path = tmp_path / "r.jsonl"
    one = [{"role": "user", "content": "q"}]
    assert answers.RememberedChat("m", lambda: ScriptedChat("m", ["a"]), path, "sha-1").complete(one).text == "a"
    other = answers.RememberedChat("m", lambda: ScriptedChat("m", ["b"]), path, "sha-2")
    assert other.complete(one).text == "b"


def test_the_bench_models_are_chat_models(tmp_path):
    model = answers.RememberedChat("m", lambda: ScriptedChat("m"), tmp_path / "r.jsonl")
    assert isinstance(model, ChatModel) and isinstance(answers.ReplayChat(ScriptedChat("m"), model, []), ChatModel)
