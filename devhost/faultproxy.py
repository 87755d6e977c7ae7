"""A TCP proxy that injects storage outages between the app and Azurite (tests, the soak bench).

Modes, switched at any time with :meth:`FaultProxy.set_mode`:

* ``pass``: bytes flow both ways;
* ``refuse``: the port stops listening, so new connections are refused (``ECONNREFUSED``, what a
  client sees when a storage front end is down), and open connections are reset;
* ``hang``: connections are accepted and requests read, but nothing is forwarded or answered (what a
  client sees when storage stops answering); leaving ``hang`` resets the hung connections.

Everything runs on daemon threads; ``stop()`` closes every socket. One proxy per port: Azurite's
blob, queue and table endpoints are three (:func:`proxied_connection_string`).
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from collections.abc import Iterator

MODES = ("pass", "refuse", "hang")


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
        peers = {a: b, b: a}
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

    def stop(self) -> None:
        for p in self.proxies:
            p.stop()
