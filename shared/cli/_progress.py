"""What ``dataops deploy`` shows while it runs: the plan, then each object's outcome as it happens.

At a terminal: the plan as soon as it is made, then one line per object with its time (or, over
:data:`BAR_OVER` objects, one bar on stderr plus a line for each failure). Not at a terminal (a pipe,
a CI log): nothing while it runs; the command prints the plan and the results, in the order they
happened, when it is done.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

BAR_OVER = 50  # more objects than this: a bar instead of a line per object
BAR_WIDTH = 30


def stamp(iso: str | None) -> str:
    """``2026-01-05T10:00:00.123456Z`` as ``2026-01-05T10:00:00Z`` (seconds are enough to read)."""
    if not iso:
        return "-"
    return iso[:19] + "Z"


def object_line(o: Any) -> str:
    text = f"  {stamp(o.at)}  {o.action:<9} {o.object_type:<12} {o.name}  {o.status}"
    return text + (f": {o.error}" if o.error else "")


class LiveDeploy:
    """A :mod:`shared.progress` listener that prints as the deployment goes (only at a terminal)."""

    def __init__(self, live: bool, out: Any = None, err: Any = None) -> None:
        self.live = live  # False: only collect the plans, for the report at the end
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.total = 0
        self.done = 0
        self.bar = False
        self.plans: list[Any] = []
        self._lock = threading.Lock()

    def __call__(self, event: str, payload: Any) -> None:
        with self._lock:
            if event == "plan":
                self.plans.append(payload)
                if self.live:
                    self._plan(payload)
            elif event == "object" and self.live:
                self._object(payload)

    def _plan(self, plan: Any) -> None:
        from .deploy_cmd import print_plan

        print_plan(plan)
        self.total = sum(1 for a in plan.actions if a.action not in ("unchanged", "leave"))
        self.done = 0
        self.bar = self.total > BAR_OVER
        if self.total:
            print(f"applying {self.total} change{'s' if self.total != 1 else ''}:", file=self.out, flush=True)

    def _object(self, o: Any) -> None:
        self.done += 1
        if not self.bar:
            print(object_line(o), file=self.out, flush=True)
            return
        if o.status == "failed":
            self.err.write("\r\033[K")
            print(object_line(o), file=self.out, flush=True)
        filled = min(BAR_WIDTH, BAR_WIDTH * self.done // max(1, self.total))
        self.err.write(f"\r  [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self.done}/{self.total}")
        if self.done >= self.total:
            self.err.write("\n")
        self.err.flush()
