"""The app's own Azure Storage account: table, queue and blob clients.

A connection string (Azurite, or an account key) or, in Azure, the account
name with the managed identity. SDK modules are imported when first used so
that importing the function app stays fast.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, Unavailable
from .settings import Settings, StorageNames

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableServiceClient
    from azure.storage.blob import BlobServiceClient, ContainerClient
    from azure.storage.queue import QueueClient, QueueServiceClient

# Short timeouts: a storage outage must become a 503 quickly, not hang a webhook.
_CLIENT_KW: dict[str, Any] = {"connection_timeout": 5, "read_timeout": 30, "retry_total": 2}
# Table retries sleep through a wrapper transport that does not see the deadline: keep them short.
_TABLE_KW: dict[str, Any] = {"retry_backoff_factor": 0.2}

# An absolute time.monotonic() deadline for every storage request made in this context (a webhook's
# answer budget): requests, their timeouts and the SDKs' retry back-offs all end by then.
_deadline: ContextVar[float | None] = ContextVar("dataops_storage_deadline", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Storage calls in this block end within ``seconds`` (a nested deadline never extends an outer one)."""
    outer = _deadline.get()
    end = time.monotonic() + max(0.0, seconds)
    if outer is not None:
        end = min(end, outer)
    token = _deadline.set(end)
    try:
        yield end
    finally:
        _deadline.reset(token)


_writes: ContextVar[list[str] | None] = ContextVar("dataops_storage_writes", default=None)
_WRITE_METHODS = frozenset({"PUT", "POST", "DELETE", "MERGE", "PATCH"})


@contextmanager
def record_writes() -> Iterator[list[str]]:
    """Collect ``"METHOD path"`` of every storage write sent in this block (the soak bench counts writes
    caused by invalid input; nothing else is recorded)."""
    seen: list[str] = []
    token = _writes.set(seen)
    try:
        yield seen
    finally:
        _writes.reset(token)


class CallTally:
    """Storage requests sent in an :func:`untraced_calls` block: how many, and their seconds."""

    __slots__ = ("requests", "seconds")

    def __init__(self) -> None:
        self.requests = 0
        self.seconds = 0.0


_untraced: ContextVar[CallTally | None] = ContextVar("dataops_storage_untraced", default=None)


@contextmanager
def untraced_calls() -> Iterator[CallTally]:
    """Storage calls in this block make no span of their own; they are counted and timed instead.

    The webhook's hot path (docs/telemetry.md): its six storage calls as HTTP client spans were most of
    the tracing overhead on the 202. Call sites pass :func:`sdk_options` to the SDK method, azure-core's
    supported per-operation switch (``tracing_options={"enabled": False}``, azure-core >= 1.33), which
    leaves out both the operation span and its HTTP client span.
    """
    tally = CallTally()
    token = _untraced.set(tally)
    try:
        yield tally
    finally:
        _untraced.reset(token)


def sdk_options() -> dict[str, Any]:
    """Keyword arguments for one Azure SDK call: tracing off inside :func:`untraced_calls`."""
    return {"tracing_options": {"enabled": False}} if _untraced.get() is not None else {}


def time_left() -> float | None:
    """Seconds until the current deadline (None: no deadline)."""
    end = _deadline.get()
    return None if end is None else end - time.monotonic()


class BudgetSpent(Unavailable):
    """The deadline passed before a storage request could be sent (so it was certainly not sent).

    Not an ``AzureError`` on purpose: the SDKs' retry policies give up at once instead of retrying it.
    """

    code = "storage_timeout"


def _bounded_retry(module: str) -> Any:
    """The storage SDK's ExponentialRetry whose back-off sleeps end at the deadline.

    The SDK retries every method (a queue send and a blob write too) after a transport error, but
    waits 15 s and more before each retry (its back-off is meant for a busy server). A request that got
    no answer at all (reset, dropped, refused, timed out) is retried on a new connection at once, then
    after 0.4 s, as the tables SDK and the ARM policy do: a reset must not cost a worker 15 s, nor a
    webhook its whole answer budget. Answers (500, 503) keep the SDK's back-off."""
    import importlib

    base = importlib.import_module(module).ExponentialRetry

    class BoundedRetry(base):  # type: ignore[misc,valid-type]
        def sleep(self, settings: Any, transport: Any) -> None:
            history = settings.get("history") or []
            if history and getattr(history[-1], "error", None) is not None:
                backoff = 0.0 if settings.get("count", 1) <= 1 else _TABLE_KW["retry_backoff_factor"] * 2
            else:
                backoff = self.get_backoff_time(settings)
            left = time_left()
            if left is not None:
                backoff = min(backoff, max(0.0, left))
            if backoff and backoff > 0:
                time.sleep(backoff)

    return BoundedRetry(retry_total=_CLIENT_KW["retry_total"])


def _transport(timeouts: tuple[float, float] | None = None) -> Any:
    """A requests transport that honours :func:`deadline` (one per service client, like the SDK's own)."""
    from azure.core.exceptions import AzureError
    from azure.core.pipeline.transport import RequestsTransport

    class DeadlineTransport(RequestsTransport):  # type: ignore[misc]
        def send(self, request: Any, **kwargs: Any) -> Any:
            writes = _writes.get()
            if writes is not None and request.method in _WRITE_METHODS:
                writes.append(f"{request.method} {request.url.split('?', 1)[0]}")
            left = time_left()
            if left is not None:
                if left <= 0.01:
                    raise BudgetSpent("storage did not answer within the time budget")
                kwargs["connection_timeout"] = min(float(kwargs.get("connection_timeout")
                                                         or self.connection_config.timeout), left)
                kwargs["read_timeout"] = min(float(kwargs.get("read_timeout")
                                                   or self.connection_config.read_timeout), left)
            tally = _untraced.get()
            started = time.perf_counter() if tally is not None else 0.0
            try:
                return super().send(request, **kwargs)
            except AzureError as exc:  # the same error, marked: messages name the service (errors.unreachable)
                exc.dataops_service = "storage"  # type: ignore[attr-defined]
                raise
            finally:
                if tally is not None:
                    tally.requests += 1
                    tally.seconds += time.perf_counter() - started

        def sleep(self, duration: float) -> None:
            left = time_left()
            super().sleep(duration if left is None else max(0.0, min(duration, left)))

    connect, read = timeouts or (_CLIENT_KW["connection_timeout"], _CLIENT_KW["read_timeout"])
    return DeadlineTransport(connection_timeout=connect, read_timeout=read)


class StorageAccount:
    def __init__(self, *, connection_string: str | None = None, account_name: str | None = None,
                 credential: Any = None, names: StorageNames | None = None,
                 timeouts: tuple[float, float] | None = None) -> None:
        if not connection_string and not account_name:
            raise ConfigError(["AzureWebJobsStorage: app setting is not set (the app's own storage "
                               "account: a connection string, or AzureWebJobsStorage__accountName)"],
                              "app settings")
        self.connection_string = connection_string
        self.account_name = account_name
        self._credential = credential
        self.names = names or StorageNames()
        self.timeouts = timeouts  # (connect, read) seconds: timeouts.storage (default 5 and 30)
        self._lock = threading.Lock()
        self._tables: dict[str, TableClient] = {}
        self._queues: dict[str, QueueClient] = {}
        self._containers: dict[str, ContainerClient] = {}

    @classmethod
    def from_settings(cls, settings: Settings, timeouts: tuple[float, float] | None = None) -> StorageAccount:
        return cls(connection_string=settings.storage_connection, account_name=settings.storage_account,
                   names=settings.names, timeouts=timeouts)

    def with_names(self, names: StorageNames) -> StorageAccount:
        return StorageAccount(connection_string=self.connection_string, account_name=self.account_name,
                              credential=self._credential, names=names, timeouts=self.timeouts)

    @property
    def _kw(self) -> dict[str, Any]:
        if self.timeouts is None:
            return _CLIENT_KW
        return {**_CLIENT_KW, "connection_timeout": self.timeouts[0], "read_timeout": self.timeouts[1]}

    def _cred(self) -> Any:
        if self._credential is None:
            from azure.identity import DefaultAzureCredential

            self._credential = DefaultAzureCredential()
        return self._credential

    @cached_property
    def table_service(self) -> TableServiceClient:
        from azure.data.tables import TableServiceClient

        if self.connection_string:
            return TableServiceClient.from_connection_string(self.connection_string, transport=_transport(self.timeouts),
                                                          **self._kw, **_TABLE_KW)
        return TableServiceClient(f"https://{self.account_name}.table.core.windows.net",
                                  credential=self._cred(), transport=_transport(self.timeouts), **self._kw, **_TABLE_KW)

    @cached_property
    def queue_service(self) -> QueueServiceClient:
        from azure.storage.queue import QueueServiceClient

        if self.connection_string:
            return QueueServiceClient.from_connection_string(
                self.connection_string, transport=_transport(self.timeouts), retry_policy=_bounded_retry("azure.storage.queue"),
                **self._kw)
        return QueueServiceClient(f"https://{self.account_name}.queue.core.windows.net",
                                  credential=self._cred(), transport=_transport(self.timeouts),
                                  retry_policy=_bounded_retry("azure.storage.queue"), **self._kw)

    @cached_property
    def blob_service(self) -> BlobServiceClient:
        from azure.storage.blob import BlobServiceClient

        if self.connection_string:
            return BlobServiceClient.from_connection_string(
                self.connection_string, transport=_transport(self.timeouts), retry_policy=_bounded_retry("azure.storage.blob"),
                **self._kw)
        return BlobServiceClient(f"https://{self.account_name}.blob.core.windows.net",
                                 credential=self._cred(), transport=_transport(self.timeouts),
                                 retry_policy=_bounded_retry("azure.storage.blob"), **self._kw)

    def table(self, name: str) -> TableClient:
        with self._lock:
            if name not in self._tables:
                self._tables[name] = self.table_service.get_table_client(name)
            return self._tables[name]

    def queue(self, name: str) -> QueueClient:
        with self._lock:
            if name not in self._queues:
                from azure.storage.queue import BinaryBase64DecodePolicy, BinaryBase64EncodePolicy

                # Base64 like the Functions host expects for queue triggers.
                self._queues[name] = self.queue_service.get_queue_client(
                    name, message_encode_policy=BinaryBase64EncodePolicy(),
                    message_decode_policy=BinaryBase64DecodePolicy())
            return self._queues[name]

    def container(self, name: str) -> ContainerClient:
        with self._lock:
            if name not in self._containers:
                self._containers[name] = self.blob_service.get_container_client(name)
            return self._containers[name]

    def ensure(self) -> StorageAccount:
        """Create every table, queue and container the app uses (idempotent)."""
        self.provision()
        return self

    def _create_queue(self, name: str) -> None:
        """Create a queue; ResourceExistsError when it is there (Create Queue itself answers 204 then)."""
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        try:
            self.queue(name).get_queue_properties()
        except ResourceNotFoundError:
            self.queue(name).create_queue()
            return
        raise ResourceExistsError(f"queue {name} exists")

    def provision(self) -> list[str]:
        """Create every table, queue and container the app uses that is missing; the names created."""
        from azure.core.exceptions import AzureError, ResourceExistsError

        created: list[str] = []
        steps: list[tuple[str, Any]] = [*((t, self.table_service.create_table) for t in self.names.tables()),
                                        *((q, self._create_queue) for q in self.names.queues()),
                                        *((c, lambda n: self.container(n).create_container()) for c in self.names.containers())]
        try:
            for name, create in steps:
                try:
                    create(name)
                    created.append(name)
                except ResourceExistsError:
                    pass
        except AzureError as exc:
            raise Unavailable(f"storage account is unreachable: {type(exc).__name__}") from exc
        return created


class NotProvisioned(Unavailable):
    """The storage account lacks a table, queue or container of the app (never initialised, or the
    wrong ``DATAOPS_STORAGE_PREFIX``): nothing to retry until someone provisions it."""

    code = "storage_not_initialized"
    retryable = False


_MISSING = {"TableNotFound": "tables", "QueueNotFound": "queues", "ContainerNotFound": "containers"}


def not_provisioned(exc: BaseException, names: StorageNames | None = None) -> NotProvisioned | None:
    """A storage SDK 404 for a missing table, queue or container as :class:`NotProvisioned` (else None).

    An entity or blob that is not there is a different 404 (``ResourceNotFound``, ``BlobNotFound``)."""
    from azure.core.exceptions import ResourceNotFoundError

    if not isinstance(exc, ResourceNotFoundError):
        return None
    code = str(getattr(exc, "error_code", None) or "")
    text = f"{code} {exc}"  # the tables SDK leaves error_code unset on some operations (create_entity)
    kind = next((k for c, k in _MISSING.items() if c in text or c.upper() in text.replace("_", "").upper()),
                None)
    if kind is None:
        return None
    prefix = (names or StorageNames()).prefix
    if prefix:
        hint = f"(prefix {prefix!r}): run `dataops storage init` or check DATAOPS_STORAGE_PREFIX"
    else:
        hint = "(no DATAOPS_STORAGE_PREFIX): run `dataops storage init`, start the app once, or set the prefix"
    return NotProvisioned(f"storage account has no dataops {kind} {hint}")
