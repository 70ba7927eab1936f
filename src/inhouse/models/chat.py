"""Chat model backends behind the `ChatModel` protocol.

- `LlamaCppChat`: a GGUF file run in-process by llama-cpp-python (the default; CPU).
- `OpenAICompatChat`: any OpenAI-compatible engine (vLLM, llama.cpp server) on a host that the
  configuration allow-lists; every other host is refused before a connection is made.
- `ScriptedChat`: replies queued by a test, for exact-output tests of what surrounds a model.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from inhouse.errors import InputError, NotFoundError, PermissionDenied

log = logging.getLogger(__name__)

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class LlamaCppChat:
    """A GGUF model in this process. Loaded on first use; one generation at a time (llama.cpp state).

    llama-cpp-python keeps the KV cache of the previous prompt and only evaluates the part of a new
    prompt that differs, so a fixed system prompt placed first is processed once, not per question.
    """

    def __init__(self, path: str | Path, name: str | None = None, n_ctx: int = 4096, n_threads: int | None = None,
                 chat_format: str | None = None, seed: int = 0) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise NotFoundError(f"model file {self.path} not found; register one with `inhouse models add PATH.gguf`.")
        self.name = name or self.path.stem
        self.n_ctx, self.n_threads, self.chat_format, self.seed = n_ctx, n_threads, chat_format, seed
        self._llm = None
        self._lock = threading.Lock()
        # Greedy replies (temperature 0): the log-probability of each token of the last reply, as the model
        # chose it (a measure of how sure it was; see inhouse.answer).
        self.last_logprobs: list[float] = []

    @property
    def llm(self):
        if self._llm is None:
            try:
                from llama_cpp import Llama
            except ImportError as e:
                raise InputError("the llama.cpp backend needs llama-cpp-python: pip install llama-cpp-python") from e
            t0 = time.perf_counter()
            try:
                self._llm = Llama(model_path=str(self.path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                                  chat_format=self.chat_format, seed=self.seed, verbose=False)
            except ValueError as e:
                log.error("cannot load model %s from %s: %s", self.name, self.path, e)
                raise InputError(f"cannot load {self.path} as a GGUF model ({e}).") from e
            log.info("loaded model %s from %s in %.1f s (n_ctx %d, %s threads)", self.name, self.path,
                     time.perf_counter() - t0, self.n_ctx, self.n_threads or "default")
        return self._llm

    def twin(self, n_ctx: int = 1024) -> LlamaCppChat:
        """A second instance of the same GGUF with its own KV state (the weights are shared through mmap), for
        short side prompts that would otherwise evict this instance's cached prompt prefix."""
        return LlamaCppChat(self.path, name=self.name, n_ctx=n_ctx, n_threads=self.n_threads,
                            chat_format=self.chat_format, seed=self.seed)

    def tokenize(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def chat(self, messages: Sequence[dict[str, str]], *, max_tokens: int = 512, temperature: float = 0.0,
             stop: Sequence[str] = (), json_schema: dict | None = None) -> Iterator[str]:
        kwargs: dict = {"messages": list(messages), "max_tokens": max_tokens, "temperature": temperature,
                        "stop": list(stop) or None, "stream": True}
        if json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": json_schema}
        logprobs: list[float] = []
        if temperature == 0.0:
            from llama_cpp import LogitsProcessorList

            def record(_ids, logits):
                # At temperature 0 the chosen token is the most likely one: its log-softmax is max − logsumexp.
                top = float(logits.max())
                logprobs.append(-float(np.log(np.exp(logits - top).sum())))
                return logits

            kwargs["logits_processor"] = LogitsProcessorList([record])
        with self._lock:
            self.last_logprobs = logprobs
            for part in self.llm.create_chat_completion(**kwargs):
                piece = part["choices"][0]["delta"].get("content")
                if piece:
                    yield piece


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A model server that redirects is misconfigured or hijacked: following it would send the prompt, the
    retrieved documents and the API key to wherever it points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {newurl} refused (model servers are not "
                                     "followed elsewhere); point base_url at the server itself", headers, fp)


_NO_REDIRECTS = urllib.request.build_opener(_RefuseRedirects)


class OpenAICompatChat:
    """An OpenAI-compatible /v1/chat/completions endpoint on an allow-listed host."""

    def __init__(self, base_url: str, model: str, allowed_hosts: Sequence[str] = (), api_key: str = "",
                 timeout: float = 120.0) -> None:
        host = urlparse(base_url).hostname or ""
        if host not in LOOPBACK and host not in set(allowed_hosts):
            raise PermissionDenied(
                f"host '{host}' is not allow-listed for model traffic; add it to the egress_allow setting "
                "(INHOUSE_HOME/config.toml or INHOUSE_EGRESS_ALLOW) if it is your own inference server."
            )
        self.base_url, self.name, self.api_key, self.timeout = base_url.rstrip("/"), model, api_key, timeout

    def twin(self) -> OpenAICompatChat:
        """The judge of this model's answers (inhouse.answer.judge_for): the server keeps its own KV state."""
        return self

    def chat(self, messages: Sequence[dict[str, str]], *, max_tokens: int = 512, temperature: float = 0.0,
             stop: Sequence[str] = (), json_schema: dict | None = None) -> Iterator[str]:
        body: dict = {"model": self.name, "messages": list(messages), "max_tokens": max_tokens,
                      "temperature": temperature, "stream": True}
        if stop:
            body["stop"] = list(stop)
        if json_schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "answer", "schema": json_schema}}
        req = urllib.request.Request(
            self.base_url + "/chat/completions", data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {self.api_key}"} if self.api_key else {})},
        )
        try:
            with _NO_REDIRECTS.open(req, timeout=self.timeout) as resp:
                for raw in resp:
                    line = raw.decode("utf-8").strip()
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    piece = json.loads(data)["choices"][0].get("delta", {}).get("content")
                    if piece:
                        yield piece
        except urllib.error.HTTPError as e:
            log.warning("model server %s answered HTTP %d (%s)", self.base_url, e.code, e.reason)
            raise InputError(f"the model server at {self.base_url} answered HTTP {e.code}: {e.reason}.") from e
        except urllib.error.URLError as e:
            log.warning("cannot reach the model server %s (%s)", self.base_url, e.reason)
            raise NotFoundError(f"cannot reach the model server at {self.base_url} ({e.reason}); is it running?") from e


class ScriptedChat:
    """Replies queued with `enqueue`, streamed word by word; records the messages it was given."""

    def __init__(self, name: str = "scripted", replies: Sequence[str] = (),
                 logprobs: Sequence[Sequence[float]] = ()) -> None:
        self.name = name
        self.replies: deque[str] = deque(replies)
        # Token log-probabilities to report for each reply in turn (a recorded run's), as `last_logprobs`.
        self.logprobs: deque[list[float]] = deque(list(x) for x in logprobs)
        self.last_logprobs: list[float] = []
        self.calls: list[list[dict[str, str]]] = []

    def enqueue(self, *replies: str) -> ScriptedChat:
        self.replies.extend(replies)
        return self

    def chat(self, messages: Sequence[dict[str, str]], *, max_tokens: int = 512, temperature: float = 0.0,
             stop: Sequence[str] = (), json_schema: dict | None = None) -> Iterator[str]:
        self.calls.append(list(messages))
        if not self.replies:
            raise InputError("ScriptedChat has no reply queued; call enqueue() first.")
        reply = self.replies.popleft()
        self.last_logprobs = self.logprobs.popleft() if self.logprobs else []
        for s in stop:
            if s in reply:
                reply = reply[: reply.index(s)]
        for i, word in enumerate(reply.split(" ")):
            yield word if i == 0 else " " + word
