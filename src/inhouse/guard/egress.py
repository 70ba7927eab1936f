"""Egress lock: this process opens no outbound connection except to loopback and allow-listed hosts.

Customer documents must not leave the machine, whatever a library or a planted link tries. The lock sits
at the socket layer, under every HTTP client: it wraps `socket.socket.connect`, `connect_ex` and
`sendto`, `socket.create_connection` and `socket.getaddrinfo` (so not even a DNS lookup of an unlisted
name leaves). Under those wrappers, an audit hook (PEP 578) sees what the C socket module itself reports
(`socket.connect`, `sendto`, `sendmsg`, `getaddrinfo`, `gethostbyname`, `gethostbyname_ex`,
`gethostbyaddr`, `getnameinfo`), so code that calls `_socket` directly, holds a reference taken before the
lock, or uses a call without a wrapper is refused the same way. A refused attempt raises `EgressBlocked` (an
OSError, so network code fails the usual way, and an InHouse PermissionDenied, so the CLI prints one
line) and is recorded in `attempts`.

The CLI (`inhouse.cli.main`) and the server (`create_app`) install it when they start.

Allowed: loopback (127.0.0.0/8, ::1, localhost), Unix sockets, and the allow-list: host names
(`models.internal`, or `*.corp.example` for a domain and its subdomains), IP addresses and CIDR
blocks, from the `egress_allow` setting (config.toml or INHOUSE_EGRESS_ALLOW, comma-separated).
`egress_allow = "*"` turns the lock off, visibly (`inhouse doctor` reports it).

Listening sockets are untouched: serving on 0.0.0.0 is inbound. Child processes are not covered (they
have their own sockets); InHouse starts none that use the network.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from inhouse.errors import PermissionDenied

log = logging.getLogger(__name__)

ENV = "INHOUSE_EGRESS_ALLOW"
_MAX_ATTEMPTS = 1000  # refused attempts kept in memory (the newest are dropped beyond this)


class EgressBlocked(PermissionDenied, ConnectionRefusedError):
    """An outbound connection to a host that is neither loopback nor allow-listed was refused."""

    exit_code = PermissionDenied.exit_code


@dataclass(frozen=True)
class Attempt:
    """One outbound attempt the lock saw: where to, through which call, and whether it was let through."""

    host: str
    port: int | None
    call: str
    allowed: bool
    at: float


@dataclass
class EgressLock:
    """The lock's state: the allow-list, whether it is on, and the non-loopback attempts it saw."""

    allow: tuple[str, ...] = ()
    enabled: bool = True
    attempts: list[Attempt] = field(default_factory=list)
    loopback_calls: int = 0
    _resolved: set[str] = field(default_factory=set)  # addresses of allow-listed names, from getaddrinfo
    _capture: list[list[Attempt]] = field(default_factory=list)

    # --- decisions ---

    def host_allowed(self, host: str) -> bool:
        """Whether `host` (a name or an address) may be reached."""
        if not self.enabled:
            return True
        h = host.strip("[]").lower().rstrip(".")
        if h in ("localhost", "localhost.localdomain", "ip6-localhost") or h.endswith(".localhost"):
            return True
        if h == _HOSTNAME:
            return True  # this machine's own name (servers resolve it); its addresses are then allowed
        addr = _ip(h)
        if addr is not None:
            if addr.is_loopback or addr.is_unspecified or h in self._resolved:
                return True
            mapped = getattr(addr, "ipv4_mapped", None)
            if mapped is not None and mapped.is_loopback:
                return True
        for entry in self.allow:
            e = entry.lower().rstrip(".")
            if e == h:
                return True
            if e.startswith("*.") and (h == e[2:] or h.endswith(e[1:])):
                return True
            if addr is not None and "/" in e:
                with contextlib.suppress(ValueError):
                    if addr in ipaddress.ip_network(e, strict=False):
                        return True
        return False

    def check(self, host: str, port: int | None, call: str) -> None:
        """Record the attempt and raise EgressBlocked unless `host` is allowed."""
        allowed = self.host_allowed(host)
        local = allowed and _is_loopback(host)
        if local:
            self.loopback_calls += 1
            return
        attempt = Attempt(str(host), port, call, allowed, time.time())
        with _lock:
            target = self._capture[-1] if self._capture else self.attempts
            if len(target) < _MAX_ATTEMPTS:
                target.append(attempt)
        if not allowed:
            _log_blocked(host, port, call)
            raise EgressBlocked(
                f"outbound connection to {host}{f':{port}' if port is not None else ''} refused by the egress lock "
                f"({call}); only loopback and allow-listed hosts are reachable. If this host is meant to be "
                f"reached, add it to the egress_allow setting (config.toml or {ENV}=host1,host2)."
            )

    def blocked(self) -> list[Attempt]:
        return [a for a in self.attempts if not a.allowed]

    @contextlib.contextmanager
    def capture(self) -> Iterator[list[Attempt]]:
        """Collect the attempts made inside the block into a separate list (tests of the lock itself)."""
        seen: list[Attempt] = []
        self._capture.append(seen)
        try:
            yield seen
        finally:
            self._capture.remove(seen)

    def state(self) -> dict:
        return {
            "installed": _installed is self,
            "enabled": self.enabled,
            "allow": list(self.allow),
            "blocked_attempts": len(self.blocked()),
            "allowed_outbound_attempts": sum(1 for a in self.attempts if a.allowed),
            "loopback_calls": self.loopback_calls,
        }


_logging = threading.local()  # set while a refusal is being logged, in case a log handler itself connects


def _log_blocked(host: str, port: int | None, call: str) -> None:
    """A warning for a refused attempt; a handler that itself tries to reach a refused host (a remote syslog)
    gets its own refusal, unlogged, instead of a loop."""
    if getattr(_logging, "active", False):
        return
    _logging.active = True
    try:
        log.warning("egress lock refused an outbound connection to %s%s (%s)", host,
                    f":{port}" if port is not None else "", call)
    finally:
        _logging.active = False


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _is_loopback(host: str) -> bool:
    h = str(host).strip("[]").lower()
    if h in ("localhost", "localhost.localdomain", "ip6-localhost") or h.endswith(".localhost"):
        return True
    addr = _ip(h)
    if addr is None:
        return False
    mapped = getattr(addr, "ipv4_mapped", None)
    return addr.is_loopback or addr.is_unspecified or (mapped is not None and mapped.is_loopback)


_HOSTNAME = socket.gethostname().lower()
_lock = threading.Lock()
_installed: EgressLock | None = None
_originals: dict[str, object] = {}
_inside = threading.local()  # set while a wrapper calls the original: its own check already ran
_hooked = False


@contextlib.contextmanager
def _checked() -> Iterator[None]:
    _inside.depth = getattr(_inside, "depth", 0) + 1
    try:
        yield
    finally:
        _inside.depth -= 1


def _audit(event: str, args: tuple) -> None:
    """PEP 578 hook: the C socket module's own events, for calls that no wrapper saw."""
    if not event.startswith("socket.") or getattr(_inside, "depth", 0):
        return
    lock = _installed
    if lock is None:
        return
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        sock, address = args
        if getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6) and (target := _target(address)):
            lock.check(target[0], target[1], event)
    elif event == "socket.getaddrinfo":
        host, port = args[0], args[1]
        if host is not None:
            name = host.decode() if isinstance(host, bytes) else str(host)
            if _ip(name.strip("[]")) is None:
                lock.check(name, port if isinstance(port, int) else None, event)
    elif event in ("socket.gethostbyname", "socket.gethostbyaddr"):
        host = args[0]
        lock.check(host.decode() if isinstance(host, bytes) else str(host), None, event)
    elif event == "socket.getnameinfo" and (target := _target(args[0])):
        lock.check(target[0], target[1], event)


def _target(address: object) -> tuple[str, int | None] | None:
    """(host, port) of an AF_INET/AF_INET6 address; None for Unix sockets and other local families."""
    if isinstance(address, tuple) and address and isinstance(address[0], str):
        port = address[1] if len(address) > 1 and isinstance(address[1], int) else None
        return address[0], port
    return None


def _guard_socket_method(name: str):
    original = _originals[name]

    def guarded(self: socket.socket, address, *args):
        lock = _installed
        if lock is not None and self.family in (socket.AF_INET, socket.AF_INET6):
            target = _target(address)
            if target is not None:
                lock.check(target[0], target[1], f"socket.{name}")
        with _checked():
            return original(self, address, *args)  # type: ignore[operator]

    guarded.__name__ = name
    guarded.__doc__ = f"socket.{name}, refused by the InHouse egress lock for non-allow-listed hosts."
    return guarded


def _guard_sendto():
    original = _originals["sendto"]

    def sendto(self: socket.socket, data, *args):
        lock = _installed
        address = args[-1] if args else None
        if lock is not None and self.family in (socket.AF_INET, socket.AF_INET6):
            target = _target(address)
            if target is not None:
                lock.check(target[0], target[1], "socket.sendto")
        with _checked():
            return original(self, data, *args)  # type: ignore[operator]

    return sendto


def _guard_create_connection():
    original = _originals["create_connection"]

    def create_connection(address, *args, **kwargs):
        lock = _installed
        if lock is not None:
            target = _target(address)
            if target is not None:
                lock.check(target[0], target[1], "socket.create_connection")
        return original(address, *args, **kwargs)  # type: ignore[operator]

    return create_connection


def _guard_getaddrinfo():
    original = _originals["getaddrinfo"]

    def getaddrinfo(host, port, *args, **kwargs):
        lock = _installed
        if lock is None or host is None:
            return original(host, port, *args, **kwargs)  # type: ignore[operator]
        name = host.decode() if isinstance(host, bytes) else str(host)
        if _ip(name.strip("[]")) is None:  # a name: resolving it is itself a network request
            lock.check(name, port if isinstance(port, int) else None, "socket.getaddrinfo")
        with _checked():
            result = original(host, port, *args, **kwargs)  # type: ignore[operator]
        if lock.enabled and not _is_loopback(name) and lock.host_allowed(name):
            # Connections to the addresses of an allow-listed name are allowed too.
            lock._resolved.update(str(info[4][0]).lower() for info in result)
        return result

    return getaddrinfo


def install(allow: Iterable[str] = (), enabled: bool = True) -> EgressLock:
    """Turn the lock on for this process (idempotent: a second call updates the allow-list and keeps
    the record of attempts). Returns the lock."""
    global _installed, _hooked
    entries = tuple(a.strip() for a in allow if a and a.strip())
    if "*" in entries:
        enabled, entries = False, tuple(e for e in entries if e != "*")
    with _lock:
        if not _originals:
            _originals.update(
                connect=socket.socket.connect,
                connect_ex=socket.socket.connect_ex,
                sendto=socket.socket.sendto,
                create_connection=socket.create_connection,
                getaddrinfo=socket.getaddrinfo,
            )
            socket.socket.connect = _guard_socket_method("connect")  # type: ignore[method-assign]
            socket.socket.connect_ex = _guard_socket_method("connect_ex")  # type: ignore[method-assign]
            socket.socket.sendto = _guard_sendto()  # type: ignore[method-assign]
            socket.create_connection = _guard_create_connection()
            socket.getaddrinfo = _guard_getaddrinfo()
        if not _hooked:  # audit hooks cannot be removed: this one does nothing while no lock is installed
            sys.addaudithook(_audit)
            _hooked = True
        if _installed is None:
            _installed = EgressLock(entries, enabled)
        else:
            _installed.allow, _installed.enabled = entries, enabled
            _installed._resolved.clear()
    if enabled:
        log.debug("egress lock on; allowed besides loopback: %s", ", ".join(entries) or "nothing")
    else:
        log.warning("egress lock off (egress_allow = '*'): this process may connect anywhere")
    return _installed


def uninstall() -> None:
    """Restore the original socket functions (tests and embedding applications that manage egress)."""
    global _installed
    with _lock:
        if _originals:
            socket.socket.connect = _originals["connect"]  # type: ignore[method-assign]
            socket.socket.connect_ex = _originals["connect_ex"]  # type: ignore[method-assign]
            socket.socket.sendto = _originals["sendto"]  # type: ignore[method-assign]
            socket.create_connection = _originals["create_connection"]  # type: ignore[assignment]
            socket.getaddrinfo = _originals["getaddrinfo"]  # type: ignore[assignment]
            _originals.clear()
        _installed = None


def current() -> EgressLock | None:
    """The installed lock, or None when this process has none."""
    return _installed


def allow_list_from(value: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (value or "").split(",") if p.strip())


def install_default() -> EgressLock:
    """The lock as InHouse starts it: on, with the allow-list from the settings (env wins over config).

    Called by the CLI at start and by the server. When a lock is already installed (by the embedding
    application, or the test suite) it is kept as it is: the first installer decides, nobody loosens it
    by accident. A broken config.toml must not leave the process unlocked: the env allow-list is used,
    and the command that reads the settings reports the config error itself.
    """
    from inhouse.config import load_settings
    from inhouse.errors import InHouseError

    if _installed is not None:
        return _installed
    try:
        allow = load_settings().egress_allow
    except InHouseError:
        allow = os.environ.get(ENV, "")
    return install(allow_list_from(allow))
