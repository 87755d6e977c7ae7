"""Deployment windows (like Argo CD sync windows), evaluated purely from the config and a time.

A window is active at ``t`` when some occurrence ``s`` of its NCRONTAB start (in
the window's own time zone) satisfies ``s <= t < end(s)``; windows that cross
midnight or a weekend are just long durations. ``deny`` windows block; when any
``allow`` window exists, only the times inside one are allowed.

``end(s)`` is computed on the window's wall clock: the local start plus the
duration, read in that zone ("22:00 for 8h" ends at 06:00 local every night,
also on the nights the clocks change, when it lasts 7 or 9 hours). An end that
falls in the spring gap is shifted forward by the gap (as NCRONTAB times are);
one in the autumn overlap is its first pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from .. import ncrontab
from ..audit.records import Activity
from ..clock import Clock
from ..config import Window
from ..deploy.orchestrator import Gate, GateInput, Hold
from .rollback import is_emergency

# How far ahead we look for the moment a blocked environment opens again.
SEARCH_HORIZON = timedelta(days=32)


@dataclass(frozen=True)
class WindowState:
    """Whether deployments may run at ``at``; when not, why and when they may next run."""

    at: datetime
    open: bool
    reason: str = ""
    opens_at: datetime | None = None  # None: open now, or no opening within the search horizon

    def seconds_until_open(self) -> int | None:
        if self.opens_at is None:
            return None
        return max(1, int((self.opens_at - self.at).total_seconds() + 0.999))


# A local-clock end differs from start + duration by at most the largest DST shift (2 h at Troll).
_SHIFT = timedelta(hours=3)


def _starts(window: Window, after: datetime, until: datetime) -> list[datetime]:
    """Occurrences of the window's start in ``(after, until]`` (aware UTC)."""
    return ncrontab.parse(window.start).occurrences(window.time_zone, after, until)


def window_end(window: Window, start: datetime) -> datetime:
    """The end of the occurrence starting at ``start``: local start + duration on the wall clock."""
    zone = ZoneInfo(window.time_zone)
    wall = start.astimezone(zone).replace(tzinfo=None) + window.length
    # fold=0: an end in the overlap is its first pass; one in the gap reads with the offset before it
    # (shifted forward by the gap).
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def active_occurrence(window: Window, at: datetime) -> datetime | None:
    """The start of the occurrence of ``window`` active at ``at`` (``s <= at < end(s)``), if any."""
    found = [s for s in _starts(window, at - window.length - _SHIFT, at) if window_end(window, s) > at]
    return found[-1] if found else None


def _describe(window: Window, start: datetime) -> str:
    return (f"{window.kind} window '{window.start}' for {window.duration} ({window.time_zone}) "
            f"from {start.isoformat()}")


def _blocked_by(windows: Sequence[Window], at: datetime) -> str | None:
    """Why deployments may not run at ``at`` (None: they may)."""
    for w in windows:
        if w.kind == "deny":
            s = active_occurrence(w, at)
            if s is not None:
                return f"inside the {_describe(w, s)}"
    allows = [w for w in windows if w.kind == "allow"]
    if allows and not any(active_occurrence(w, at) is not None for w in allows):
        return "outside every allow window (" + "; ".join(
            f"'{w.start}' for {w.duration} {w.time_zone}" for w in allows) + ")"
    return None


def window_state(windows: Sequence[Window], at: datetime) -> WindowState:
    """Evaluate the windows at ``at``; when blocked, find the first moment they open (pure)."""
    reason = _blocked_by(windows, at)
    if reason is None:
        return WindowState(at, True)
    # The state only changes at a boundary: the end of a deny occurrence or the start of an allow one.
    until = at + SEARCH_HORIZON
    candidates: set[datetime] = set()
    for w in windows:
        if w.kind == "deny":
            ends = (window_end(w, s) for s in _starts(w, at - w.length - _SHIFT, until))
            candidates.update(e for e in ends if e > at)
        else:
            candidates.update(_starts(w, at, until))
            # an allow window's end can unblock nothing, but a deny ending inside an allow one can
    for t in sorted(candidates):
        if _blocked_by(windows, t) is None:
            return WindowState(at, False, reason, t)
    return WindowState(at, False, reason, None)


# Longest a deployment waiting for a window stays in the queue before it is looked at again
# (the configuration may have changed meanwhile; a queue message may be hidden for 7 days at most).
DEFAULT_RECHECK_CAP = 3600


def window_gate(clock: Clock, *, recheck_cap: int = DEFAULT_RECHECK_CAP) -> Gate:
    """The gate: outside allowed time a deployment waits (``waiting_window``) and is re-checked when
    the window opens (at most ``recheck_cap`` seconds later); a forced one passes, recorded.
    A rollback waits like any release unless it is an emergency (``--emergency --reason``)."""

    def gate(g: GateInput) -> Hold | None:
        rec = g.record
        env = g.config.environments.get(rec.environment)
        if env is None or not env.windows or is_emergency(rec):
            return None
        now = clock.now()
        state = window_state(env.windows, now)
        if state.open:
            return None
        # --force (with its recorded reason) passes a closed window; a rollback passes only as an emergency.
        if (g.request.force or rec.forced) and rec.trigger != "rollback":
            g.ledger.record_activity(Activity(
                environment=rec.environment, kind="window_override", key=rec.id, at=now, actor=rec.actor,
                status="forced", deployment_id=rec.id,
                summary=f"{rec.component} {rec.commit[:12]} deployed with force {state.reason}",
                data={"reason": state.reason, "trigger": rec.trigger}))
            return None
        wait = state.seconds_until_open()
        recheck = max(1, min(recheck_cap, wait if wait is not None else recheck_cap))
        opens = f"; opens at {state.opens_at.isoformat()}" if state.opens_at else "; no opening within 32 days"
        return Hold("waiting_window", f"deployment window closed: {state.reason}{opens}", recheck_after=recheck)

    return gate
