"""A local stand-in for the Azure Functions host running the project's ``FunctionApp`` (SPEC section 9).

Azure Functions Core Tools cannot be installed everywhere, so this host runs the
app as the real host does, strictly (docs/standin-host.md lists each behaviour
and where it comes from):

* **Indexing.** The functions are indexed as the Python worker indexes them
  (``app.get_functions()``; each function's raw bindings JSON) and the host
  works from that metadata only. ``%SETTING%`` binding expressions resolve from
  the app settings (the environment) as the host's name resolver does; a
  binding that does not resolve puts that function "in error" (it is not run),
  the rest of the app still starts.
* **HTTP.** Routes under ``routePrefix`` match case-insensitively, with route
  constraints and ASP.NET Core's precedence (literal segments first); a path
  no function serves, or a method the function does not declare, is an empty
  ``404`` (the host has no ``405``); a function that raises is an empty ``500``.
* **Queues.** As the WebJobs storage-queue listener: a message is taken for a
  10-minute lease that is renewed at half-time while the function runs; on
  success it is deleted; on failure it becomes visible again after
  ``visibilityTimeout`` (default 0), and once its dequeue count reaches
  ``maxDequeueCount`` it is copied to ``<queue>-poison``; each instance runs up
  to ``batchSize + newBatchThreshold`` messages of a queue at once; polling
  backs off exponentially up to ``maxPollingInterval``; bodies are base64
  (``messageEncoding``), an undecodable message goes straight to the poison queue.
* **Timers.** NCRONTAB in UTC (or ``WEBSITE_TIME_ZONE``), one instance at a time
  across all instances (a blob-lease singleton, like the host's listener lock),
  ``runOnStartup`` and ``useMonitor`` (schedule status blob, past-due runs).

Several processes of this host against one Azurite act as several instances
of one function app (``--instance-id``). Function keys are enforced as in Azure
(``devhost/keys.py``), not skipped as Core Tools skips them locally.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import random
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .invocation import context_kwargs

log = logging.getLogger("devhost")
ROOT = Path(__file__).resolve().parent.parent

HOSTS_CONTAINER = "azure-webjobs-hosts"  # where the host keeps its locks and timer status
MESSAGE_LEASE = 600.0  # the queue listener's fixed invisibility while a function runs (10 minutes)
MIN_RENEWAL = 60.0  # the listener's minimum visibility renewal interval
MIN_POLL = 0.1  # QueuePollingIntervals.Minimum
# App Service's front end answers 502 to a request the app has not answered within 230 s (Azure Load
# Balancer's idle timeout, whatever functionTimeout says); the function keeps running, its answer is lost.
HTTP_REQUEST_TIMEOUT = 230.0
POISON_SUFFIX = "-poison"
_QUEUE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")


class BindingError(Exception):
    """A binding the host cannot index: the function is "in error" and is not run."""


# ------------------------------------------------------------------ settings
class AppSettings:
    """The host's configuration view of the app settings: names are case-insensitive and
    ``__`` in an environment variable name is the ``:`` of a hierarchical key."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        source = os.environ if environ is None else environ
        self._values = {k.replace("__", ":").casefold(): v for k, v in source.items()}

    def get(self, name: str) -> str | None:
        return self._values.get(name.casefold()) if name else None

    def resolve(self, expression: str) -> str:
        """``ResolveWholeString``: every ``%name%`` replaced by its setting, or BindingError."""
        out, pos = [], 0
        while True:
            start = expression.find("%", pos)
            if start < 0:
                out.append(expression[pos:])
                return "".join(out)
            end = expression.find("%", start + 1)
            if end < 0:
                raise BindingError(f"The '%' at position {start} does not have a closing '%'")
            name = expression[start + 1:end]
            value = self.get(name)
            if value is None:
                raise BindingError(f"'%{name}%' does not resolve to a value.")
            out.append(expression[pos:start])
            out.append(value)
            pos = end + 1


def queue_name(expression: str, settings: AppSettings) -> str:
    """The queue a trigger listens on: resolved, lowercased ("coerce here to be nice"), validated."""
    name = settings.resolve(expression).lower()
    if not _QUEUE_NAME.match(name):
        raise BindingError(f"Invalid queue name: {name!r}. A queue name must be 3-63 lowercase letters, "
                           "digits and single hyphens, starting and ending with a letter or digit.")
    return name


def poison_queue_name(queue: str) -> str | None:
    """``<queue>-poison``, unless the queue is itself a poison queue or the name would be invalid."""
    if queue.endswith(POISON_SUFFIX):
        return None
    candidate = queue + POISON_SUFFIX
    return candidate if _QUEUE_NAME.match(candidate) else None


def host_id_of(host_json: Mapping[str, Any], settings: AppSettings) -> str:
    """The host id (locks, timer status, secrets): host.json ``id``, else ``WEBSITE_SITE_NAME``."""
    raw = str(host_json.get("id") or settings.get("WEBSITE_SITE_NAME") or "devhost")
    return re.sub(r"[^a-z0-9-]", "-", raw.lower())[:32].strip("-") or "devhost"


def _timespan(value: Any, default: float) -> float:
    """host.json time spans: ``hh:mm:ss[.fff]`` or ``d.hh:mm:ss``."""
    if value is None:
        return default
    if isinstance(value, int | float):
        return float(value)
    m = re.fullmatch(r"(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)", str(value).strip())
    if not m:
        raise ValueError(f"{value!r} is not a time span (hh:mm:ss)")
    days, h, mi, s = m.groups()
    return int(days or 0) * 86400 + int(h) * 3600 + int(mi) * 60 + float(s)


# ------------------------------------------------------------------ indexing
@dataclass(frozen=True)
class IndexedFunction:
    """One function as the Python worker reports it to the host (RpcFunctionMetadata)."""

    name: str
    bindings: tuple[dict[str, Any], ...]
    fn: Callable[..., Any]

    @property
    def trigger(self) -> dict[str, Any]:
        (trig,) = [b for b in self.bindings if str(b.get("type", "")).endswith("Trigger")]
        return trig


_INDEXED: dict[int, tuple[Any, list[IndexedFunction]]] = {}


def index_app(app: Any) -> list[IndexedFunction]:
    """``app.get_functions()`` and each function's raw bindings, once per app object
    (azure-functions refuses to index an app twice)."""
    key = id(app)
    if key not in _INDEXED or _INDEXED[key][0] is not app:
        out = [IndexedFunction(f.get_function_name(), tuple(json.loads(raw) for raw in f.get_raw_bindings()),
                               f.get_user_function()) for f in app.get_functions()]
        _INDEXED[key] = (app, out)
    return _INDEXED[key][1]


# ---------------------------------------------------------------------- HTTP
_CONSTRAINTS: dict[str, str] = {
    "int": r"-?\d+", "long": r"-?\d+", "bool": r"(?i:true|false)", "alpha": r"[A-Za-z]+",
    "guid": r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}|"
            r"\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}",
    "decimal": r"-?\d+(?:\.\d+)?", "double": r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?",
    "float": r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?", "datetime": r"\d{4}-\d{2}-\d{2}(?:[T ][0-9:.]+)?",
}


@dataclass
class _Segment:
    literal: str | None = None
    name: str | None = None
    optional: bool = False
    catch_all: bool = False
    checks: list[Callable[[str], bool]] = field(default_factory=list)
    constrained: bool = False

    def rank(self) -> int:
        """ASP.NET Core route precedence per segment: literal, constrained, plain, optional, catch-all."""
        if self.literal is not None:
            return 1
        if self.catch_all:
            return 5
        if self.optional:
            return 4
        return 2 if self.constrained else 3


def _constraint(spec: str) -> Callable[[str], bool]:
    m = re.fullmatch(r"(\w+)(?:\((.*)\))?", spec)
    if not m:
        raise BindingError(f"invalid route constraint {spec!r}")
    kind, arg = m.group(1).lower(), m.group(2)
    if kind in _CONSTRAINTS:
        pattern = re.compile(f"(?:{_CONSTRAINTS[kind]})")
        return lambda v: bool(pattern.fullmatch(v))
    if kind == "regex" and arg is not None:
        rx = re.compile(arg, re.IGNORECASE)
        return lambda v: bool(rx.search(v))
    nums = [int(x) for x in (arg or "").split(",") if x.strip()]
    if kind == "minlength" and len(nums) == 1:
        return lambda v: len(v) >= nums[0]
    if kind == "maxlength" and len(nums) == 1:
        return lambda v: len(v) <= nums[0]
    if kind == "length" and nums:
        lo, hi = nums[0], nums[-1]
        return lambda v: lo <= len(v) <= hi
    if kind in ("min", "max", "range") and nums:
        lo = nums[0] if kind != "max" else None
        hi = nums[-1] if kind != "min" else None
        return lambda v: bool(re.fullmatch(r"-?\d+", v)) and (lo is None or int(v) >= lo) and \
            (hi is None or int(v) <= hi)
    raise BindingError(f"unknown route constraint {spec!r}")


def parse_route(route: str) -> list[_Segment]:
    segments: list[_Segment] = []
    for part in [p for p in route.strip("/").split("/") if p != ""]:
        m = re.fullmatch(r"\{(\*{1,2})?([A-Za-z_][A-Za-z0-9_]*)((?::[^:}?=]+(?:\([^)]*\))?)*)(\?)?(?:=[^}]*)?\}", part)
        if m:
            seg = _Segment(name=m.group(2), optional=bool(m.group(4)), catch_all=bool(m.group(1)))
            for spec in re.findall(r":([^:(]+(?:\([^)]*\))?)", m.group(3) or ""):
                seg.checks.append(_constraint(spec))
                seg.constrained = True
            segments.append(seg)
        elif "{" in part or "}" in part:
            raise BindingError(f"unsupported route segment {part!r} in {route!r}")
        else:
            segments.append(_Segment(literal=part))
    return segments


class HttpRoute:
    def __init__(self, function: IndexedFunction, prefix: str) -> None:
        trig = function.trigger
        self.name, self.fn, self.arg = function.name, function.fn, trig["name"]
        self.route = trig.get("route") or function.name
        methods = [str(getattr(m, "value", m)).upper() for m in trig.get("methods") or []]
        self.methods = set(methods) or {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE"}
        self.auth_level = str(trig.get("authLevel", "FUNCTION")).upper()
        self.segments = parse_route(self.route)
        self.precedence = [s.rank() for s in self.segments]
        self.prefix = prefix

    def match(self, parts: list[str]) -> dict[str, str] | None:
        params: dict[str, str] = {}
        i = 0
        for seg in self.segments:
            if seg.catch_all:
                rest = "/".join(parts[i:])
                if rest:
                    params[seg.name or ""] = rest
                return params
            if i >= len(parts):
                if seg.optional:
                    continue
                return None
            value = parts[i]
            if seg.literal is not None:
                if value.casefold() != seg.literal.casefold():
                    return None
            else:
                if not all(check(value) for check in seg.checks):
                    return None
                params[seg.name or ""] = value
            i += 1
        return params if i == len(parts) else None


# -------------------------------------------------------------------- queues
@dataclass
class _Lease:
    """A received message's current pop receipt (renewals change it)."""

    message_id: str
    pop_receipt: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    lost: bool = False


class QueueListener:
    """One queue trigger on one instance, as the WebJobs storage-queue listener runs it."""

    def __init__(self, host: FunctionHost, function: IndexedFunction, queue: str) -> None:
        self.host, self.function, self.queue = host, function, queue
        self.name, self.fn, self.arg = function.name, function.fn, function.trigger["name"]
        self.poison = poison_queue_name(queue)
        self._active = 0
        self._cond = threading.Condition()
        self._pool: ThreadPoolExecutor | None = None

    # The ``(function, queue, fn, arg)`` shape older callers unpack.
    def __iter__(self) -> Any:
        return iter((self.name, self.queue, self.fn, self.arg))

    def __getitem__(self, i: int) -> Any:
        return (self.name, self.queue, self.fn, self.arg)[i]

    @property
    def concurrency(self) -> int:
        return self.host.batch_size + self.host.new_batch_threshold

    def _receive(self) -> list[Any]:
        client = self.host.queue_client(self.queue)
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return list(client.receive_messages(messages_per_page=self.host.batch_size,
                                                max_messages=self.host.batch_size,
                                                visibility_timeout=max(1, round(self.host.message_lease))))
        except ResourceNotFoundError:
            return []  # the queue does not exist (yet): nothing to do, as the listener backs off

    def process_once(self) -> int:
        """Receive one batch and run every message to completion; returns how many were received."""
        batch = self._receive()
        threads = [threading.Thread(target=self.handle, args=(m,), daemon=True) for m in batch]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return len(batch)

    def run(self, stop: threading.Event) -> None:
        """The listener loop: fetch a batch, then fetch again once no more than ``newBatchThreshold``
        messages are still running; back off (randomised, exponential) while the queue is empty."""
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix=f"q-{self.name}")
        delay = MIN_POLL
        try:
            while not stop.is_set():
                with self._cond:
                    while self._active > self.host.new_batch_threshold and not stop.is_set():
                        self._cond.wait(0.5)
                try:
                    batch = self._receive()
                except Exception:
                    log.exception("polling %s failed", self.queue)
                    batch = []
                if batch:
                    delay = MIN_POLL
                    for msg in batch:
                        with self._cond:
                            self._active += 1
                        self._pool.submit(self._run_one, msg)
                    continue
                stop.wait(delay)
                delay = min(self.host.max_polling, delay * 2 * random.uniform(0.8, 1.2))
        finally:
            self._pool.shutdown(wait=True)

    def _run_one(self, msg: Any) -> None:
        try:
            self.handle(msg)
        except Exception:
            log.exception("queue listener %s failed on message %s", self.name, msg.id)
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    def handle(self, msg: Any) -> None:
        lease = _Lease(msg.id, msg.pop_receipt)
        raw = msg.content if isinstance(msg.content, str) else bytes(msg.content).decode("utf-8", "replace")
        body = self.host.decode(raw)
        if body is None:
            log.warning("Message decoding has failed! Check MessageEncoding settings. MessageId=%s.", msg.id)
            self._to_poison(lease, raw)
            return
        if msg.dequeue_count > self.host.max_dequeue:
            self._to_poison(lease, raw)
            return
        from azure.functions.queue import QueueMessage

        qm = QueueMessage(id=msg.id, body=body, dequeue_count=msg.dequeue_count,
                          insertion_time=msg.inserted_on, expiration_time=msg.expires_on,
                          time_next_visible=msg.next_visible_on, pop_receipt=msg.pop_receipt)
        done = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(lease, done), daemon=True,
                                   name=f"renew-{msg.id[:8]}")
        renewer.start()
        ok = True
        try:
            self.host.invoke(self.name, self.fn, {self.arg: qm}, attempt=msg.dequeue_count - 1,
                             max_attempts=self.host.max_dequeue)
        except Exception:
            ok = False
            log.exception("Executed 'Functions.%s' (Failed, Id=%s, dequeue count %s)", self.name, msg.id,
                          msg.dequeue_count)
        finally:
            done.set()
            renewer.join()
        if ok:
            self._delete(lease)
        elif self.poison is None:
            pass  # no poison queue: left invisible until its lease ends, to avoid a fast loop
        elif msg.dequeue_count >= self.host.max_dequeue:
            self._to_poison(lease, raw)
        else:
            self._release(lease)

    def _renew(self, lease: _Lease, done: threading.Event) -> None:
        """Keep the message invisible while the function runs: renew at half the lease."""
        from azure.core.exceptions import HttpResponseError

        interval = self.host.message_lease / 2
        client = self.host.queue_client(self.queue)
        while not done.wait(interval):
            with lease.lock:
                try:
                    updated = client.update_message(lease.message_id, lease.pop_receipt,
                                                    visibility_timeout=max(1, round(self.host.message_lease)))
                    lease.pop_receipt = updated.pop_receipt
                    interval = self.host.message_lease / 2
                except HttpResponseError as exc:
                    if exc.status_code in (400, 404):  # pop receipt mismatch / message gone: taken over
                        lease.lost = True
                        log.warning("lost the lease on message %s of %s", lease.message_id, self.queue)
                        return
                    interval = max(min(self.host.min_renewal, interval), interval / 2)

    def _delete(self, lease: _Lease) -> None:
        from azure.core.exceptions import HttpResponseError

        with lease.lock:
            try:
                self.host.queue_client(self.queue).delete_message(lease.message_id, lease.pop_receipt)
            except HttpResponseError as exc:
                if exc.status_code not in (400, 404, 409):
                    raise
                log.debug("could not delete message %s (%s): someone else took it over", lease.message_id,
                          exc.status_code)

    def _release(self, lease: _Lease) -> None:
        """We could not process the message: let someone else try after ``visibilityTimeout``."""
        from azure.core.exceptions import HttpResponseError

        with lease.lock:
            try:
                self.host.queue_client(self.queue).update_message(
                    lease.message_id, lease.pop_receipt, visibility_timeout=round(self.host.visibility))
            except HttpResponseError as exc:
                if exc.status_code not in (400, 404, 409):
                    raise

    def _to_poison(self, lease: _Lease, raw: str) -> None:
        if self.poison is None:
            return
        from azure.core.exceptions import ResourceExistsError

        log.warning("Message has reached MaxDequeueCount of %s. Moving message to queue '%s'.",
                    self.host.max_dequeue, self.poison)
        poison = self.host.queue_client(self.poison)
        try:
            poison.create_queue()
        except ResourceExistsError:
            pass
        poison.send_message(raw)
        self._delete(lease)


# -------------------------------------------------------------------- timers
class BlobLease:
    """A singleton lock as the host takes one: a lease on ``azure-webjobs-hosts/locks/<host>/<name>``."""

    def __init__(self, host: FunctionHost, name: str, duration: int) -> None:
        self.host, self.name, self.duration = host, name, duration
        self._lease: Any = None

    def _blob(self) -> Any:
        return self.host.hosts_container().get_blob_client(f"locks/{self.host.host_id}/{self.name}")

    def try_acquire(self) -> bool:
        from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

        blob = self._blob()
        for _ in range(2):
            try:
                self._lease = blob.acquire_lease(lease_duration=self.duration)
                return True
            except ResourceNotFoundError:
                try:
                    blob.upload_blob(b"", overwrite=False)
                except (ResourceExistsError, HttpResponseError):
                    pass
            except HttpResponseError as exc:
                if exc.status_code == 409:
                    return False
                raise
        return False

    def renew(self) -> bool:
        try:
            self._lease.renew()
            return True
        except Exception:
            log.error("lost the singleton lock %s", self.name)
            self._lease = None
            return False

    def release(self) -> None:
        if self._lease is not None:
            try:
                self._lease.release()
            except Exception:
                pass
            self._lease = None


class TimerListener:
    """One timer trigger: a singleton across instances, scheduled in UTC or ``WEBSITE_TIME_ZONE``."""

    def __init__(self, host: FunctionHost, function: IndexedFunction) -> None:
        from shared import ncrontab

        trig = function.trigger
        self.host, self.function = host, function
        self.name, self.fn, self.arg = function.name, function.fn, trig["name"]
        self.schedule = host.settings.resolve(str(trig["schedule"]))
        try:
            self.cron = ncrontab.parse(self.schedule)
        except ValueError as exc:
            raise BindingError(f"'{self.schedule}' is not a valid CRON expression: {exc}") from exc
        self.run_on_startup = bool(trig.get("runOnStartup", False))
        use_monitor = trig.get("useMonitor")
        self.use_monitor = self._default_monitor() if use_monitor is None else bool(use_monitor)
        self.runs: list[dict[str, Any]] = []  # what this instance invoked (inspection and tests)

    def _default_monitor(self) -> bool:
        """Default: monitored when occurrences are more than a minute apart."""
        first = self.next_after(datetime.now(UTC))
        return self.next_after(first) - first > timedelta(minutes=1)

    def next_after(self, when: datetime) -> datetime:
        """The first occurrence strictly after ``when`` (the schedule read in the host's time zone)."""
        nxt = self.cron.next_after(self.host.time_zone, when)
        return nxt or (when + timedelta(days=366 * 5))

    # schedule status (useMonitor)
    def _status_blob(self) -> Any:
        return self.host.hosts_container().get_blob_client(f"timers/{self.host.host_id}/{self.name}/status")

    def read_status(self) -> dict[str, datetime] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            data = json.loads(self._status_blob().download_blob().readall())
            return {k: datetime.fromisoformat(data[k]) for k in ("Last", "Next", "LastUpdated")}
        except (ResourceNotFoundError, KeyError, ValueError):
            return None

    def write_status(self, status: dict[str, datetime]) -> None:
        self._status_blob().upload_blob(json.dumps({k: v.isoformat() for k, v in status.items()}).encode(),
                                        overwrite=True)

    def run(self, stop: threading.Event) -> None:
        lock = BlobLease(self.host, f"{self.name}.Listener", self.host.listener_lock_period) \
            if self.host.storage_connection else None
        if lock is not None:
            while not lock.try_acquire():  # another instance runs this timer
                if stop.wait(self.host.listener_lock_recovery):
                    return
        try:
            self._schedule_loop(stop, lock)
        finally:
            if lock is not None:
                lock.release()

    def _schedule_loop(self, stop: threading.Event, lock: BlobLease | None) -> None:
        now = datetime.now(UTC)
        status = self.read_status() if self.use_monitor else None
        if status is None:
            status = {"Last": datetime.min.replace(tzinfo=UTC), "Next": self.next_after(now),
                      "LastUpdated": datetime.min.replace(tzinfo=UTC)}
        if self.use_monitor and status["Next"] < now:
            self._invoke(status, past_due=True, reason="IsPastDue")
            status = self._advance(datetime.now(UTC), status, scheduled=False)
        elif self.run_on_startup:
            self._invoke(status, past_due=False, reason="RunOnStartup")
            status = self._advance(datetime.now(UTC), status, scheduled=False)
        renew_every = self.host.listener_lock_period / 2
        last_renew = time.monotonic()
        while not stop.is_set():
            wait = (status["Next"] - datetime.now(UTC)).total_seconds()
            if wait > 0:
                stop.wait(min(wait, renew_every))
            if stop.is_set():
                return
            if lock is not None and time.monotonic() - last_renew >= renew_every:
                if not lock.renew():
                    return
                last_renew = time.monotonic()
            if datetime.now(UTC) < status["Next"]:
                continue
            self._invoke(status, past_due=False, reason=None)
            status = self._advance(datetime.now(UTC), status, scheduled=True)

    def _advance(self, invoked: datetime, status: dict[str, datetime], *, scheduled: bool) -> dict[str, datetime]:
        at = status["Next"] if scheduled and status["Next"] > invoked else invoked
        new = {"Last": at, "Next": self.next_after(at), "LastUpdated": at}
        if self.use_monitor:
            try:
                self.write_status(new)
            except Exception:
                log.exception("could not update the schedule status of %s", self.name)
        return new

    def _invoke(self, status: dict[str, datetime], *, past_due: bool, reason: str | None) -> None:
        from azure.functions.timer import TimerRequest

        schedule_status = {k: v.isoformat() for k, v in status.items()} if self.use_monitor else None
        req = TimerRequest(past_due=past_due, schedule_status=schedule_status,
                                schedule={"AdjustForDST": True})
        self.runs.append({"at": datetime.now(UTC), "past_due": past_due, "reason": reason})
        try:
            self.host.invoke(self.name, self.fn, {self.arg: req})
        except Exception:  # a timer does not retry: the next occurrence runs it again
            log.exception("Executed 'Functions.%s' (Failed)", self.name)


# ---------------------------------------------------------------------- host
class FunctionHost:
    def __init__(self, app: Any, host_json: dict[str, Any] | None = None, *,
                 environ: Mapping[str, str] | None = None, instance_id: str | None = None,
                 message_lease: float = MESSAGE_LEASE, processor_count: int = 1,
                 http_request_timeout: float = HTTP_REQUEST_TIMEOUT) -> None:
        self.app = app
        self.host_json = host_json or {}
        self.settings = AppSettings(environ)
        self.instance_id = instance_id or uuid.uuid4().hex[:12]
        cfg = self.host_json.get("extensions", {})
        self.prefix = str(cfg.get("http", {}).get("routePrefix", "api")).strip("/")
        q = cfg.get("queues", {})
        self.max_dequeue = int(q.get("maxDequeueCount", 5))
        self.batch_size = int(q.get("batchSize", 16))
        if not 1 <= self.batch_size <= 32:
            raise ValueError("host.json queues.batchSize must be 1-32")
        self.new_batch_threshold = int(q["newBatchThreshold"]) if "newBatchThreshold" in q else \
            (self.batch_size // 2) * processor_count
        self.visibility = _timespan(q.get("visibilityTimeout"), 0.0)
        self.max_polling = max(MIN_POLL, _timespan(q.get("maxPollingInterval"), 60.0))
        self.encoding = str(q.get("messageEncoding", "base64")).lower()
        if self.encoding not in ("base64", "none"):
            raise ValueError("host.json queues.messageEncoding must be base64 or none")
        self.message_lease = float(message_lease)
        self.http_request_timeout = float(http_request_timeout)
        self.min_renewal = min(MIN_RENEWAL, self.message_lease / 2)
        singleton = self.host_json.get("singleton", {})
        self.listener_lock_period = int(_timespan(singleton.get("listenerLockPeriod"), 60.0))
        self.listener_lock_recovery = _timespan(singleton.get("listenerLockRecoveryPollingInterval"), 60.0)
        self.host_id = host_id_of(self.host_json, self.settings)
        tz = self.settings.get("WEBSITE_TIME_ZONE")
        self.time_zone = "UTC"
        if tz:
            from shared.ncrontab import validate_time_zone

            validate_time_zone(tz)
            self.time_zone = tz
        self.functions = index_app(app)
        self.errors: dict[str, str] = {}
        self.routes: list[HttpRoute] = []
        self.queues: list[QueueListener] = []
        self.timers: list[TimerListener] = []
        for f in self.functions:
            try:
                self._add(f)
            except BindingError as err:
                self.errors[f.name] = str(err)
                log.error("The '%s' function is in error: %s", f.name, err)
        # ASP.NET Core route precedence: compare segment by segment (literal before parameter).
        self.routes.sort(key=lambda r: (r.precedence, -len(r.segments)))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.invocations = 0
        self.local_principal: Any = None  # devhost.easyauth.LocalPrincipal: who the front end signs in
        self._keys: Any = None

    def _add(self, f: IndexedFunction) -> None:
        trig = f.trigger
        kind = trig["type"]
        if kind == "httpTrigger":
            self.routes.append(HttpRoute(f, self.prefix))
        elif kind == "queueTrigger":
            self.queues.append(QueueListener(self, f, queue_name(str(trig["queueName"]), self.settings)))
        elif kind == "timerTrigger":
            self.timers.append(TimerListener(self, f))
        else:
            raise BindingError(f"the dev host does not run {kind} triggers")

    @property
    def storage_connection(self) -> str | None:
        return self.settings.get("AzureWebJobsStorage")

    @property
    def keys(self) -> Any:
        """The app's function keys (:class:`devhost.keys.FunctionKeys`): in ``azure-webjobs-secrets`` of
        ``AzureWebJobsStorage`` like the host's blob secret repository, generated on first use."""
        with self._lock:
            if self._keys is None:
                from .keys import keys_for

                self._keys = keys_for(self.storage_connection, self.host_id, self.instance_id)
            return self._keys

    def listener(self, function: str) -> QueueListener:
        return next(q for q in self.queues if q.name == function)

    def invoke(self, name: str, fn: Callable[..., Any], kwargs: dict[str, Any], **context: Any) -> Any:
        """Run one invocation (with a ``context`` when the function declares one)."""
        with self._lock:
            self.invocations += 1
        return fn(**kwargs, **context_kwargs(fn, name, str(ROOT), **context))

    def decode(self, raw: str) -> bytes | None:
        if self.encoding == "none":
            return raw.encode()
        try:
            return base64.b64decode(raw, validate=True)
        except (ValueError, TypeError):
            return None

    def encode(self, body: bytes) -> str:
        return body.decode() if self.encoding == "none" else base64.b64encode(body).decode()

    # ---------------------------------------------------------------- HTTP
    def dispatch(self, method: str, url: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        import azure.functions as func

        parts = urlsplit(url)
        path = [unquote(p) for p in parts.path.split("/") if p]
        prefix = [p for p in self.prefix.split("/") if p]
        if [p.casefold() for p in path[:len(prefix)]] != [p.casefold() for p in prefix]:
            return 404, {}, b""
        rest = path[len(prefix):]
        for r in self.routes:
            params = r.match(rest)
            if params is None or method.upper() not in r.methods:
                continue  # the host's routing: a method the function does not declare is no match (404)
            if not self.authorized(r, headers, parts.query):
                return 401, {}, b""  # the host's UnauthorizedResult: no body, no WWW-Authenticate
            req = func.HttpRequest(method.upper(), url, headers=headers,
                                   params=dict(parse_qsl(parts.query)), route_params=params, body=body)
            try:
                resp = self.invoke(r.name, r.fn, {r.arg: req}, headers=headers)
            except Exception:
                log.exception("Executed 'Functions.%s' (Failed)", r.name)
                return 500, {}, b""
            out_headers = dict(resp.headers.items()) if resp.headers else {}
            if resp.mimetype and "Content-Type" not in out_headers:
                out_headers["Content-Type"] = f"{resp.mimetype}; charset={resp.charset or 'utf-8'}"
            return resp.status_code, out_headers, resp.get_body() or b""
        return 404, {}, b""

    def authorized(self, route: HttpRoute, headers: Mapping[str, str], query: str) -> bool:
        """The host's key check (``FunctionInvocationMiddleware``): an ANONYMOUS route presenting no key is
        not checked; otherwise the presented key must grant the route's level (docs/standin-host.md)."""
        if route.auth_level == "ANONYMOUS":
            return True  # a key it presents is looked up, but anonymous is met whatever it grants
        from .keys import presented_key

        return bool(self.keys.allows(route.auth_level, presented_key(headers, query), route.name))

    def through_front_end(self, method: str, url: str, headers: dict[str, str],
                          body: bytes) -> tuple[int, dict[str, str], bytes]:
        """:meth:`dispatch` as App Service's front end passes a request on: a request not answered within
        ``http_request_timeout`` seconds is answered 502 while the function goes on running."""
        answer: list[tuple[int, dict[str, str], bytes]] = []
        done = threading.Event()

        def run() -> None:
            try:
                answer.append(self.dispatch(method, url, headers, body))
            finally:
                done.set()

        threading.Thread(target=run, name="devhost-request", daemon=True).start()
        if not done.wait(self.http_request_timeout):
            log.warning("%s %s not answered within %.0f s: the front end answers 502 (the function goes on)",
                        method, urlsplit(url).path, self.http_request_timeout)
            return 502, {"Content-Type": "text/plain; charset=utf-8"}, (
                f"502 Bad Gateway: the app did not answer within {self.http_request_timeout:g} s "
                "(the front end's request limit)").encode()
        return answer[0] if answer else (500, {}, b"")

    def serve_http(self, host: str = "127.0.0.1", port: int = 7071) -> ThreadingHTTPServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = f"http://{self.headers.get('Host', f'{host}:{port}')}{self.path}"
                from devhost.easyauth import front_end  # App Service Authentication in front of the app

                status, headers, data = owner.through_front_end(self.command, url, front_end(
                    dict(self.headers.items()), owner.local_principal), body)
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_TRACE = _handle

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("%s - " + fmt, self.address_string(), *args)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        t = threading.Thread(target=self.server.serve_forever, name="devhost-http", daemon=True)
        t.start()
        self._threads.append(t)
        return self.server

    # ------------------------------------------------------------- storage
    def queue_client(self, queue: str) -> Any:
        with self._lock:
            if queue not in self._clients:
                from azure.storage.queue import QueueClient

                conn = self.storage_connection
                if not conn:
                    raise RuntimeError("AzureWebJobsStorage is not set")
                self._clients[queue] = QueueClient.from_connection_string(conn, queue)
            return self._clients[queue]

    def hosts_container(self) -> Any:
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import BlobServiceClient

        with self._lock:
            if HOSTS_CONTAINER not in self._clients:
                conn = self.storage_connection
                if not conn:
                    raise RuntimeError("AzureWebJobsStorage is not set")
                c = BlobServiceClient.from_connection_string(conn).get_container_client(HOSTS_CONTAINER)
                try:
                    c.create_container()
                except ResourceExistsError:
                    pass
                self._clients[HOSTS_CONTAINER] = c
            return self._clients[HOSTS_CONTAINER]

    def send(self, queue: str, body: bytes) -> None:
        """Put ``body`` on ``queue`` encoded as this host reads it (tests)."""
        from azure.core.exceptions import ResourceExistsError

        client = self.queue_client(queue)
        try:
            client.create_queue()
        except ResourceExistsError:
            pass
        client.send_message(self.encode(body))

    # ----------------------------------------------------------- lifecycle
    def start_background(self, *, queues: bool = True, timers: bool = True) -> None:
        items: list[QueueListener | TimerListener] = []
        if queues:
            items += self.queues
        if timers:
            items += self.timers
        for item in items:
            t = threading.Thread(target=item.run, args=(self._stop,), name=f"listener-{item.name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 30) -> None:
        """Stop listening; wait for the running functions (graceful shutdown), then release the locks."""
        self._stop.set()
        if self.server:
            self.server.shutdown()
            self.server.server_close()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=timeout)

    def describe(self) -> list[str]:
        lines = [f"  {sorted(r.methods)} /{self.prefix}/{r.route}  ({r.name})" for r in
                 sorted(self.routes, key=lambda r: r.route)]
        lines += [f"  queue {q.queue}  ({q.name}, up to {q.concurrency} at once)" for q in self.queues]
        lines += [f"  timer {t.schedule} {self.time_zone}  ({t.name})" for t in self.timers]
        lines += [f"  IN ERROR {name}: {err}" for name, err in sorted(self.errors.items())]
        return lines

    def served(self) -> dict[str, dict[str, Any]]:
        """What this host serves per function (compared with the worker's index by a test)."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.routes:
            out[r.name] = {"type": "httpTrigger", "route": r.route, "methods": sorted(r.methods),
                           "authLevel": r.auth_level}
        for q in self.queues:
            out[q.name] = {"type": "queueTrigger", "queue": q.queue, "poison": q.poison,
                           "concurrency": q.concurrency}
        for t in self.timers:
            out[t.name] = {"type": "timerTrigger", "schedule": t.schedule, "timeZone": self.time_zone,
                           "runOnStartup": t.run_on_startup, "useMonitor": t.use_monitor}
        for name, err in self.errors.items():
            out[name] = {"error": err}
        return out


def load_settings_file(path: Path) -> None:
    """Export ``Values`` of local.settings.json into the environment (without overriding)."""
    if path.exists():
        values = json.loads(path.read_text()).get("Values", {})
        for k, v in values.items():
            os.environ.setdefault(k, str(v))


def load_app(app_dir: Path = ROOT, **kwargs: Any) -> FunctionHost:
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    import importlib

    module = importlib.import_module("function_app")
    host_json = json.loads((app_dir / "host.json").read_text())
    return FunctionHost(module.app, host_json, **kwargs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--no-queues", action="store_true")
    parser.add_argument("--no-timers", action="store_true")
    parser.add_argument("--instance-id", help="name of this instance (several processes = several instances)")
    parser.add_argument("--message-lease", type=float, default=MESSAGE_LEASE,
                        help="seconds a running queue message stays invisible between renewals' "
                             "half-time (Azure: 600; shorter only to test renewal quickly)")
    parser.add_argument("--http-request-timeout", type=float, default=HTTP_REQUEST_TIMEOUT,
                        help="seconds the front end waits for an HTTP answer before it answers 502 (Azure: 230; "
                             "shorter only to test long requests quickly)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format=f"%(asctime)s [{args.instance_id or 'devhost'}] %(name)s %(levelname)s %(message)s")
    # The Azure SDKs log every HTTP request at INFO: keep the host log readable.
    for noisy in ("azure", "urllib3", "databricks.sdk"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    load_settings_file(ROOT / "local.settings.json")
    from devhost.easyauth import local_principal_from_env

    principal = local_principal_from_env()
    host = load_app(instance_id=args.instance_id, message_lease=args.message_lease,
                    http_request_timeout=args.http_request_timeout)
    host.local_principal = principal
    host.serve_http(args.host, args.port)
    host.start_background(queues=not args.no_queues, timers=not args.no_timers)
    print(f"Functions dev host {host.instance_id} on http://{args.host}:{args.port}/{host.prefix}/", flush=True)
    where = "azure-webjobs-secrets of AzureWebJobsStorage" if host.storage_connection else "memory (no storage)"
    host.keys.host_secrets()  # generated now if this app has none yet, so clients can read them
    print(f"  Function keys (?code= or x-functions-key) in {where}, host id {host.host_id}: "
          "`python -m devhost.keys` prints them", flush=True)
    if principal is not None:
        print(f"  App Service Authentication stand-in: every request signed in as {principal.name}", flush=True)
    for line in host.describe():
        print(line, flush=True)
    import signal

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        while not stopped.wait(3600):
            pass
    except KeyboardInterrupt:
        pass
    host.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
