"""One registry shape (as Cloud Custodian's ``PluginRegistry``): things registered by name.

Component specs (:mod:`shared.deploy.components`) and schedule resource types
(:mod:`shared.schedules.resources`) are both kept in one of these. A registry
is a value: tests build their own (``with_`` / ``replacing``) and pass it in
instead of patching the product's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any, Generic, Self, TypeVar, overload

from .errors import InvalidInput

T = TypeVar("T")
_DECORATE: Any = object()


class Registry(Generic[T]):
    """Items by name, in registration order."""

    def __init__(self, what: str, items: dict[str, T] | None = None) -> None:
        self.what = what  # "component", "resource type": used in messages
        self._items: dict[str, T] = dict(items or {})

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, item: T) -> T: ...

    def register(self, name: str, item: Any = _DECORATE) -> Any:
        """Register ``item`` as ``name``; without ``item``, a decorator that registers what it decorates."""
        if item is _DECORATE:
            return lambda decorated: self.register(name, decorated)
        if name in self._items:
            raise ValueError(f"{self.what} {name!r} is registered twice")
        self._items[name] = item
        return item

    def names(self) -> tuple[str, ...]:
        return tuple(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def get(self, name: str) -> T:
        """The item named ``name``; an unknown name is the caller's mistake, naming the known ones."""
        try:
            return self._items[name]
        except KeyError:
            raise InvalidInput(f"unknown {self.what} {name!r} ({', '.join(self._items) or 'none registered'})",
                               code=f"unknown_{self.what.replace(' ', '_')}") from None

    def with_(self, name: str, item: T) -> Self:
        """A copy with one more item (this registry is unchanged)."""
        clone = self._copy()
        clone.register(name, item)
        return clone

    def replacing(self, name: str, item: T) -> Self:
        """A copy where ``name`` (which must exist) is ``item`` (this registry is unchanged)."""
        self.get(name)
        clone = self._copy()
        clone._items[name] = item
        return clone

    def _copy(self) -> Self:
        clone = copy.copy(self)
        clone._items = dict(self._items)
        return clone
