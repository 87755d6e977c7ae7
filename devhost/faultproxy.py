"""A TCP proxy that injects storage outages between the app and Azurite (tests, the soak bench).

Modes, switched at any time with :meth:`FaultProxy.set_mode`:

* ``pass``: bytes flow both ways;
* ``refuse``: the port stops listening, so new connections are refused (``ECONNREFUSED``, what a
  client sees when a storage front end is down), and open connections are reset;
* ``hang``: connections are accepted and requests read, but nothing is forwarded or answered (what a
  client sees when storage stops answering); leaving ``hang`` resets the hung connections.

Besides the modes, :meth:`FaultProxy.reset_next` resets single requests (what a client sees when a load
balancer drops an idle keep-alive connection, or a front end restarts, mid-request): the request line
is matched by a regular expression and the connection is reset with RST either *before* the request
is forwarded (the server never sees it) or *after* the server answered it (the server carried it out,
the client never gets the answer). A client cannot tell the two apart.

Everything runs on daemon threads; ``stop()`` closes every socket. One proxy per port: Azurite's
blob, queue and table endpoints are three (:func:`proxied_connection_string`).
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

MODES = ("pass", "refuse", "hang")
_REQUEST_LINE = re.compile(rb"^([A-Z]+) (\S+) HTTP/1\.[01]\r\n")


@dataclass
class ResetRule:
    """Reset the next ``count`` requests whose request line (``"METHOD /path?query"``) matches
    ``pattern`` (after letting ``skip`` of them pass): before forwarding them, or (``after``) once the
    server has answered them."""

    pattern: str
    after: bool = False
    count: int = 1
    skip: int = 0
    injected: list[str] = field(default_factory=list)  # the request lines reset so far

    def take(self, line: str) -> bool:
        if len(self.injected) >= self.count or not re.search(self.pattern, line):
            return False
        if self.skip > 0:
            self.skip -= 1
            return False
        self.injected.append(line)
        return True


class _Switched:
    """Something :meth:`set_mode` switches between the modes."""

    def set_mode(self, mode: str) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def fault(self, mode: str) -> Iterator[None]:
        """``mode`` while the block runs, then ``pass``."""
        self.set_mode(mode)
        try:
            yield
        finally:
            self.set_mode("pass")


class FaultProxy(_Switched):
    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.host = host
        self._mode = "pass"
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._stopped = threading.Event()
        self._listener: socket.socket | None = None
        self.port = port
        self._listen()
        self.connections = 0  # accepted so far (tests assert traffic went through the proxy)
        self._resets: list[ResetRule] = []

    # -------------------------------------------------------------- listening
    def _listen(self) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for attempt in range(50):
            try:
                s.bind((self.host, self.port))
                break
            except OSError:
                if attempt == 49 or not self.port:
                    raise
                self._stopped.wait(0.02)
        s.listen(128)
        self.port = s.getsockname()[1]
        self._listener = s
        threading.Thread(target=self._accept_loop, args=(s,), name=f"faultproxy-{self.port}", daemon=True).start()

    def _close_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            with contextlib.suppress(OSError):
                self._listener.close()
            self._listener = None

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed: refusing, or stopped
            self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    # ------------------------------------------------------------------ modes
    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        with self._lock:
            previous, self._mode = self._mode, mode
            if mode == previous:
                return
            if mode == "refuse" or previous == "hang":
                self._reset_all()  # refused: open connections go too; after a hang: they lost bytes
            if mode == "refuse":
                self._close_listener()
            elif previous == "refuse" and not self._stopped.is_set():
                self._listen()

    def _reset_all(self) -> None:
        for s in list(self._conns):
            _reset(s)
        self._conns.clear()

    def reset_next(self, pattern: str, *, after: bool = False, count: int = 1, skip: int = 0) -> ResetRule:
        """Reset the next ``count`` requests matching ``pattern`` (see the module docstring)."""
        rule = ResetRule(pattern, after=after, count=count, skip=skip)
        with self._lock:
            self._resets.append(rule)
        return rule

    def _reset_rule(self, data: bytes) -> ResetRule | None:
        m = _REQUEST_LINE.match(data)
        if m is None:
            return None
        line = f"{m.group(1).decode()} {m.group(2).decode(errors='replace')}"
        with self._lock:
            return next((r for r in self._resets if r.take(line)), None)

    # ---------------------------------------------------------------- pumping
    def _serve(self, client: socket.socket) -> None:
        if self._mode == "hang":
            with self._lock:
                self._conns.add(client)
            self._drain(client)
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _reset(client)
            return
        with self._lock:
            self._conns.update((client, upstream))
        try:
            self._pump(client, upstream)
        finally:
            with self._lock:
                self._conns.discard(client)
                self._conns.discard(upstream)
            for s in (client, upstream):
                with contextlib.suppress(OSError):
                    s.close()

    def _drain(self, client: socket.socket) -> None:
        """Hang: read and drop whatever the client sends, answer nothing, until reset."""
        try:
            while not self._stopped.is_set() and client in self._conns:
                r, _, _ = select.select([client], [], [], 0.2)
                if r and not client.recv(65536):
                    return
        except (OSError, ValueError):
            return

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        """Bytes both ways (``a`` is the client); a matching :class:`ResetRule` resets the client."""
        peers = {a: b, b: a}
        lose_answer = False  # the request in flight was forwarded: reset instead of answering it
        while not self._stopped.is_set():
            if self._mode == "hang":
                # hold everything: the sockets stay open, nothing moves, until the mode changes
                if a not in self._conns:
                    return
                self._stopped.wait(0.05)
                continue
            try:
                ready, _, _ = select.select(list(peers), [], [], 0.2)
            except (OSError, ValueError):
                return
            for s in ready:
                try:
                    data = s.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                if s is a and (rule := self._reset_rule(data)) is not None:
                    if not rule.after:
                        _reset(a)  # before: the server never sees the request
                        return
                    lose_answer = True
                elif s is b and lose_answer:
                    _reset(a)  # after: the server carried it out and answered; the answer is lost
                    return
                try:
                    peers[s].sendall(data)
                except OSError:
                    return

    def stop(self) -> None:
        self._stopped.set()
        self._close_listener()
        with self._lock:
            self._reset_all()


def _reset(s: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a crashed front end does."""
    with contextlib.suppress(OSError):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        s.close()


class StorageFaults(_Switched):
    """Three proxies, one per Azurite endpoint, switched together."""

    def __init__(self, azurite_host: str, blob: int, queue: int, table: int) -> None:
        self.proxies = (FaultProxy(azurite_host, blob), FaultProxy(azurite_host, queue),
                        FaultProxy(azurite_host, table))
        self.host = azurite_host

    @property
    def connection_string(self) -> str:
        from .azurite import connection_string

        b, q, t = self.proxies
        return connection_string(self.host, b.port, q.port, t.port)

    def set_mode(self, mode: str) -> None:
        for p in self.proxies:
            p.set_mode(mode)

    def reset_next(self, service: str, pattern: str, *, after: bool = False, count: int = 1,
                   skip: int = 0) -> ResetRule:
        """:meth:`FaultProxy.reset_next` on the ``blob``, ``queue`` or ``table`` endpoint."""
        proxy = self.proxies[("blob", "queue", "table").index(service)]
        return proxy.reset_next(pattern, after=after, count=count, skip=skip)

    def stop(self) -> None:
        for p in self.proxies:
            p.stop()

    def __enter__(self) -> StorageFaults:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
