"""bench/answers.py RememberedChat: a replay asks the model only what it never answered before."""

import importlib.util
import sys
from pathlib import Path

from inhouse.models.chat import ScriptedChat

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
    assert "".join(chat.chat(one, max_tokens=8)) == "첫 답 [1]." and chat.last_logprobs == [-0.1, -0.2]
    # The same messages again: the remembered reply, word by word as the model streamed it.
    assert list(chat.chat(one, max_tokens=8)) == ["첫", " 답", " [1]."] and loads == [1]
    # Other messages (or another token limit) are asked of the model.
    assert "".join(chat.chat(one, max_tokens=9)) == "둘째 답 [2]." and chat.last_logprobs == [-0.3]
    # A new instance reads the memory back and never loads the model.
    again = answers.RememberedChat("m", lambda: (_ for _ in ()).throw(AssertionError("loaded")), path)
    assert "".join(again.chat(one, max_tokens=9)) == "둘째 답 [2]." and again.last_logprobs == [-0.3]


def test_a_replay_asks_the_model_only_after_the_recorded_replies(tmp_path):
    model = answers.RememberedChat("m", lambda: ScriptedChat("m", ["새 답 [1]."], [[-0.5]]), tmp_path / "r.jsonl")
    chat = answers.ReplayChat(ScriptedChat("m", ["[1][2]"], [[-0.1]]), model, ["반품은 14일 안에 할 수 있다."])
    prompt = [{"role": "user", "content": "[1] 반품은 14일 안에 할 수 있다.\n질문: 반품 기간은?"}]
    assert "".join(chat.chat(prompt)) == "[1][2]" and not chat.asked and chat.last_logprobs == [-0.1]
    assert "".join(chat.chat([{"role": "user", "content": "follow"}])) == "새 답 [1]." and chat.asked
    assert chat.last_logprobs == [-0.5] and not chat.redrafted


def test_a_prompt_without_the_recorded_sources_is_drafted_by_the_model(tmp_path):
    """Retrieval or selection changed since the run: the recorded draft is not even verified."""
    model = answers.RememberedChat("m", lambda: ScriptedChat("m", ["새 답 [1]."]), tmp_path / "r.jsonl")
    chat = answers.ReplayChat(ScriptedChat("m", ["옛 답 [1]."]), model, ["반품은 14일 안에 할 수 있다."])
    assert "".join(chat.chat([{"role": "user", "content": "[1] 배송은 3일 걸린다."}])) == "새 답 [1]."
    assert chat.redrafted and chat.asked


def test_another_model_file_does_not_reuse_the_replies(tmp_path):
    path = tmp_path / "r.jsonl"
    one = [{"role": "user", "content": "q"}]
    assert "".join(answers.RememberedChat("m", lambda: ScriptedChat("m", ["a"]), path, "sha-1").chat(one)) == "a"
    other = answers.RememberedChat("m", lambda: ScriptedChat("m", ["b"]), path, "sha-2")
    assert "".join(other.chat(one)) == "b"
