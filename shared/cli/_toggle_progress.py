"""What ``dataops env stop|start`` and ``dataops triggers stop|start`` show while they run.

The same conventions as ``deploy`` (:mod:`._progress`): at a terminal, one line per resource as it is
handled (time, action, type, name, outcome; a failed attempt that will be retried says so); not at a
terminal (a pipe, a CI log), nothing while it runs and the same lines, in the order they happened, when it
is done. ``--json`` shows no progress at all (its output is the result only).
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from ._progress import stamp


def resource_line(h: Any) -> str:
    """``  2026-01-05T19:00:01Z  stop      clusters     etl  succeeded``"""
    o = h.outcome
    text = f"  {stamp(h.at)}  {o.action:<9} {o.type:<12} {o.name}  {o.status}"
    if o.status == "failed" and h.retrying:
        text += f" (attempt {o.attempts} of {h.attempts}, retrying)"
    elif o.status == "failed" and o.attempts > 1:
        text += f" (after {o.attempts} attempts)"
    return text + (f": {o.error}" if o.error else "")


class LiveToggle:
    """A :mod:`shared.progress` listener for stops, starts and trigger toggles."""

    def __init__(self, live: bool, out: Any = None) -> None:
        self.live = live  # False: collect the lines for :meth:`report`
        self.out = out or sys.stdout
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, event: str, payload: Any) -> None:
        with self._lock:
            if event == "toggle" and self.live:
                verb = {"stop": "stopping", "start": "starting"}.get(payload.action, payload.action)
                print(f"{verb} {payload.count} resource{'s' if payload.count != 1 else ''} of "
                      f"{payload.environment}:", file=self.out, flush=True)
            elif event == "resource":
                line = resource_line(payload)
                self.lines.append(line)
                if self.live:
                    print(line, file=self.out, flush=True)

    def report(self) -> None:
        """Not at a terminal: the lines collected, in the order they happened (once the run is over)."""
        if not self.live and self.lines:
            print("resources (in the order they were handled, UTC):", file=self.out)
            for line in self.lines:
                print(line, file=self.out)
