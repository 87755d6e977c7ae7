"""Progress of long operations for whoever watches (the CLI at a terminal); nobody by default.

Deployers need not know: a per-object result announces itself when it is made
(:class:`shared.audit.records.ObjectResult`), steps when they start and end
(:class:`shared.deploy.model.StepRecorder`), the orchestrator its plan. Listeners are
process-wide (results are made in worker threads) and must be quick; one that raises is ignored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Listener = Callable[[str, Any], None]
_listeners: list[Listener] = []
_lock = threading.Lock()


def active() -> bool:
    return bool(_listeners)


def emit(event: str, payload: Any) -> None:
    """Tell the listeners: ``plan`` (a Plan), ``step`` (a StepRecord, started or ended), ``object``."""
    if not _listeners:
        return
    with _lock:
        for listener in list(_listeners):
            try:
                listener(event, payload)
            except Exception:  # progress must never break the work it reports on
                pass


@contextmanager
def watching(listener: Listener) -> Iterator[None]:
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)
