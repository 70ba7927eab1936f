"""What the routes share: one `Server` per app (`app.state.inhouse`), reached through `deps.state`."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from inhouse.answer import judge_for
from inhouse.apps.commerce.search import SearchCache
from inhouse.config import Settings
from inhouse.files import secure_dir
from inhouse.protocols import ChatModel, Embedder, Store
from inhouse.server.answers import AnswerLog
from inhouse.server.audit import AuditLog
from inhouse.server.db import open_server_db
from inhouse.server.jobs import JobStore
from inhouse.server.keys import KeyStore
from inhouse.server.metrics import Metrics
from inhouse.server.queue import GenerationQueue
from inhouse.store import open_store

log = logging.getLogger(__name__)


class Server:
    """What the routes share: the store, keys, audit and answer logs, models, embedder, queue and metrics.

    Each request is answered by its tenant's model: the configured model with the adapter `Registry.choose`
    picks for the tenant (`adapter`, the command's --adapter, wins over `tenant_adapters` and the `adapter`
    setting). One in-process model per (model, adapter) is made on first use and shared by every request and
    tenant that needs it; a model given to the constructor (tests) answers every tenant."""

    def __init__(self, chat: ChatModel | None, embedder: Embedder | None, settings: Settings, base: Path,
                 queue: GenerationQueue, store: Store | None = None, adapter: str | None = None) -> None:
        secure_dir(base)
        self.base = base
        self.settings = settings
        self.store = store or open_store(base, settings.database_url)
        self.db = open_server_db(base, settings.database_url)
        self.keys = KeyStore(self.db)
        self.audit = AuditLog(self.db)
        self.answers = AnswerLog(self.db)
        self._chat = chat
        self.adapter = adapter
        self._chats: dict[tuple[str, str | None], ChatModel] = {}
        self._judges: dict[str, ChatModel | None] = {}  # by the name of the model they judge for
        self._chat_lock = threading.Lock()
        self.embedder = embedder
        self.catalogs = SearchCache(embedder)  # each shop's catalog search, rebuilt when its files change
        self.queue = queue
        self.metrics = Metrics()
        # Generation and its waiting requests get their own threads, so a full queue cannot starve the
        # threads that serve searches.
        self.gen_pool = ThreadPoolExecutor(max_workers=queue.capacity, thread_name_prefix="inhouse-gen")
        self.ingest_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inhouse-ingest")
        self.jobs = JobStore(self.db)

    def chat_for(self, tenant: str | None = None) -> ChatModel:
        """The model that answers `tenant`'s requests. The registry is consulted on each call, so an adapter
        file that changed, or a base it no longer fits, is refused at once (an InputError naming both)."""
        if self._chat is not None:
            return self._chat
        from inhouse.models.registry import Registry

        choice = Registry(self.base).choose(self.settings, adapter=self.adapter, tenant=tenant)
        with self._chat_lock:
            chat = self._chats.get((choice.model, choice.adapter))
            if chat is None:
                chat = self._chats[(choice.model, choice.adapter)] = choice.chat(self.settings)
            return chat

    def judge_of(self, chat: ChatModel) -> ChatModel | None:
        """The model that judges the claims of `chat`'s answers (inhouse.answer.judge_for), made once per model."""
        with self._chat_lock:
            if chat.name not in self._judges:
                self._judges[chat.name] = judge_for(chat, self.settings)
            return self._judges[chat.name]

    def check_adapters(self) -> list[str]:
        """The adapted models the configuration asks for (for any tenant, and for each of `tenant_adapters`),
        resolved now: a missing adapter, or one for another model, stops the server before it starts. Nothing
        is resolved when no adapter is configured (a server may start, and search, before a model is there)."""
        if self._chat is not None:
            return []
        from inhouse.config import tenant_adapters
        from inhouse.models.registry import Registry, pick_adapter

        reg = Registry(self.base)
        tenants = [None, *tenant_adapters(self.settings.tenant_adapters)]
        names = sorted({reg.choose(self.settings, adapter=self.adapter, tenant=t).name for t in tenants
                        if pick_adapter(self.settings, self.adapter, t) is not None})
        if names:
            log.info("adapters checked: %s", ", ".join(names))
        return names

    def close(self) -> None:
        self.gen_pool.shutdown(wait=False, cancel_futures=True)
        self.ingest_pool.shutdown(wait=False, cancel_futures=True)
