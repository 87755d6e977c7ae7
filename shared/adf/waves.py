"""Run independent operations in parallel waves under a concurrency bound."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from ..telemetry import ContextPool as ThreadPoolExecutor  # tasks stay in the caller's trace

T = TypeVar("T")


def run_wave(items: Sequence[T], fn: Callable[[T], object], max_parallel: int
             ) -> list[tuple[T, BaseException | None]]:
    """Call ``fn`` on every item (at most ``max_parallel`` at once); each item's exception or None, in order.

    One failing item does not stop the others: the caller decides what a
    failure means once the wave is over.
    """
    if not items:
        return []

    def one(item: T) -> tuple[T, BaseException | None]:
        try:
            fn(item)
        except Exception as exc:  # reported to the caller, per item
            return item, exc
        return item, None

    if max_parallel <= 1 or len(items) == 1:
        return [one(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(max_parallel, len(items)), thread_name_prefix="adf-wave") as pool:
        return list(pool.map(one, items))
