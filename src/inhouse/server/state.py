"""What the routes share: one `Server` per app (`app.state.inhouse`), reached through `deps.state`."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from inhouse.answer import judge_for
from inhouse.config import Settings
from inhouse.files import secure_dir
from inhouse.protocols import ChatModel, Embedder
from inhouse.server.answers import AnswerLog
from inhouse.server.audit import AuditLog
from inhouse.server.db import ServerDB
from inhouse.server.jobs import JobStore
from inhouse.server.keys import KeyStore
from inhouse.server.metrics import Metrics
from inhouse.server.queue import GenerationQueue
from inhouse.store import SQLiteStore, open_store


class Server:
    """What the routes share: the store, keys, audit and answer logs, model, embedder, queue and metrics."""

    def __init__(self, chat: ChatModel | None, embedder: Embedder | None, settings: Settings, base: Path,
                 queue: GenerationQueue, store: SQLiteStore | None = None) -> None:
        secure_dir(base)
        self.base = base
        self.settings = settings
        self.store = store or open_store(base)
        self.db = ServerDB(base / "server.db")
        self.keys = KeyStore(self.db)
        self.audit = AuditLog(self.db)
        self.answers = AnswerLog(self.db)
        self._chat = chat
        self._chat_lock = threading.Lock()
        self._judge: ChatModel | None = None
        self._judge_made = False
        self.embedder = embedder
        self.queue = queue
        self.metrics = Metrics()
        # Generation and its waiting requests get their own threads, so a full queue cannot starve the
        # threads that serve searches.
        self.gen_pool = ThreadPoolExecutor(max_workers=queue.capacity, thread_name_prefix="inhouse-gen")
        self.ingest_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inhouse-ingest")
        self.jobs = JobStore(self.db)

    @property
    def chat(self) -> ChatModel:
        with self._chat_lock:
            if self._chat is None:
                from inhouse.models.chat import LlamaCppChat
                from inhouse.models.registry import Registry

                name, path = Registry(self.base).resolve(self.settings.model or None)
                self._chat = LlamaCppChat(path, name=name, n_ctx=self.settings.n_ctx,
                                          n_threads=self.settings.n_threads or os.cpu_count())
            return self._chat

    @property
    def judge(self) -> ChatModel | None:
        """The model that judges kept claims (inhouse.answer.judge_for), made once, beside `chat`."""
        chat = self.chat
        with self._chat_lock:
            if not self._judge_made:
                self._judge, self._judge_made = judge_for(chat, self.settings), True
            return self._judge

    def close(self) -> None:
        self.gen_pool.shutdown(wait=False, cancel_futures=True)
        self.ingest_pool.shutdown(wait=False, cancel_futures=True)
