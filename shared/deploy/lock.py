"""Locks per environment and component, as blob leases in the app's own storage.

At most one deployment per (environment, component) runs at a time. The lock
is a lease on the blob ``<environment>/<component>`` of the lock container:

* acquired with a finite duration (15-60 s, Azure's range) and renewed in the
  background while held, so a worker that dies releases it by expiry: the
  next one recovers it after at most ``duration`` seconds;
* released at the end;
* waiting is polling with a deadline (``acquire(timeout=...)``); callers that
  must not block (the queue worker) use ``try_acquire`` and re-queue.

A schedule action takes :class:`EnvironmentLocks` (every component of the
environment, in a fixed order so two holders never deadlock), so it never runs
while a deployment to that environment is in progress.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from ..errors import Conflict
from ..storage import StorageAccount
from .components import COMPONENTS

log = logging.getLogger(__name__)


class LockBusy(Conflict):
    code = "locked"


class LeaseLock:
    def __init__(self, storage: StorageAccount, environment: str, component: str, *,
                 duration: int = 30, poll_interval: float = 0.25) -> None:
        if not 15 <= duration <= 60:
            raise ValueError("lease duration must be 15-60 seconds")
        self.environment, self.component = environment, component
        self.duration, self.poll_interval = duration, poll_interval
        self.blob = storage.container(storage.names.lock_container).get_blob_client(
            f"{environment}/{component}")
        self._lease: Any = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self.lost = False  # set when a renewal failed: the lease may have been taken over
        self.holder: str | None = None

    @property
    def name(self) -> str:
        return f"{self.environment}/{self.component}"

    def _ensure_blob(self) -> None:
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

        try:
            self.blob.upload_blob(b"", overwrite=False)
        except (ResourceExistsError, ResourceModifiedError):
            pass  # exists (possibly leased): fine
        except Exception as exc:  # a leased blob answers 412 LeaseIdMissing on overwrite attempts
            if getattr(exc, "status_code", None) not in (409, 412):
                raise

    def try_acquire(self, holder: str) -> bool:
        """Take the lock now if free; returns whether it was taken."""
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        if self._lease is not None:
            raise RuntimeError(f"lock {self.name} is already held by this object")
        for _ in range(2):
            try:
                lease = self.blob.acquire_lease(lease_duration=self.duration)
                break
            except ResourceNotFoundError:
                self._ensure_blob()
            except HttpResponseError as exc:
                if exc.status_code == 409:  # LeaseAlreadyPresent
                    return False
                raise
        else:
            return False
        self._lease, self.holder, self.lost = lease, holder, False
        try:
            self.blob.set_blob_metadata({"holder": holder[:200], "acquired": str(int(time.time()))},
                                        lease=lease)
        except HttpResponseError:
            log.warning("could not label lock %s", self.name)
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name=f"lease-{self.name}", daemon=True)
        self._renewer.start()
        return True

    def acquire(self, holder: str, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the lock (polling, not sleeping blindly)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.try_acquire(holder):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(self.poll_interval, max(0.0, deadline - time.monotonic())))

    def _renew_loop(self) -> None:
        interval = self.duration / 3
        while not self._stop.wait(interval):
            try:
                self._lease.renew()
            except Exception:
                self.lost = True
                log.error("lost the lease on lock %s", self.name)
                return

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join(timeout=5)
        if self._lease is not None:
            try:
                self._lease.release()
            except Exception:
                log.warning("lease on %s already gone at release", self.name)
        self._lease, self._renewer, self.holder = None, None, None

    def current_holder(self) -> str | None:
        """Who holds the lock now (None when free)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            props = self.blob.get_blob_properties()
        except ResourceNotFoundError:
            return None
        if props.lease.state != "leased":
            return None
        return str(props.metadata.get("holder") or "unknown")

    @property
    def held(self) -> bool:
        return self._lease is not None

    def __enter__(self) -> LeaseLock:
        if not self.held and not self.try_acquire(self.holder or "anonymous"):
            raise LockBusy(f"{self.name} is locked by {self.current_holder()}")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


class EnvironmentLocks:
    """Every component lock of one environment, taken in a fixed order (no deadlocks)."""

    def __init__(self, storage: StorageAccount, environment: str,
                 components: Iterable[str] = COMPONENTS.names(), **kwargs: Any) -> None:
        self.locks = [LeaseLock(storage, environment, c, **kwargs) for c in sorted(components)]

    def acquire(self, holder: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for i, lock in enumerate(self.locks):
            if not lock.acquire(holder, max(0.0, deadline - time.monotonic())):
                for held in self.locks[:i]:
                    held.release()
                return False
        return True

    def release(self) -> None:
        for lock in reversed(self.locks):
            lock.release()

    def holders(self) -> dict[str, str | None]:
        return {lock.component: lock.current_holder() for lock in self.locks}
