"""schemathesis fuzzes every operation in /openapi.json against the live server: no response is a 5xx."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from inhouse.models.chat import scripted_reply
from inhouse.protocols import Reply
from tests.e2e.test_server import running

ST = shutil.which("st", path=str(Path(sys.executable).parent))
pytestmark = pytest.mark.skipif(ST is None, reason="pip install schemathesis")


class EchoChat:
    """Always answers, so fuzzed chat requests reach the whole pipeline."""

    name = "echo"
    reports_logprobs = False
    supports_json_schema = False

    def twin(self) -> None:
        return None

    def complete(self, messages: Sequence[dict[str, str]], *, max_tokens: int = 512, stop: Sequence[str] = (),
                 on_piece: Callable[[str], None] | None = None, **kwargs) -> Reply:
        return scripted_reply("반품은 상품 수령 후 14일 이내에 가능합니다 [1].", max_tokens=max_tokens, stop=stop,
                              on_piece=on_piece)


@pytest.mark.parametrize("who", ["boss", "kim", None])
def test_no_server_errors_under_fuzzing(inhouse_home: Path, tmp_path: Path, who: str | None):
    with running(inhouse_home, tmp_path, chat=EchoChat()) as live:
        cmd = [ST, "run", live.url + "/openapi.json", "--checks", "not_a_server_error", "--max-examples", "15",
               "--seed", "7", "--request-timeout", "30", "--report-dir", str(tmp_path / "st")]
        if who:
            cmd += ["--header", f"Authorization: Bearer {live.keys[who]}"]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)  # its cache stays out of the repo
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "No issues found" in run.stdout or "passed" in run.stdout, run.stdout[-2000:]
    print(run.stdout[-1500:])
