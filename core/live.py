"""The settings in force: one holder that the front-ends and the relay read per message, so a
reload (SIGHUP) applies to the next message without a restart and never to a reply in flight."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from core.config import Settings

T = TypeVar("T")

Current = Callable[[], T]
"""A view of one part of the settings, read anew at each call."""


class LiveSettings:
    """Holds the settings in force; :meth:`replace` swaps them whole, atomically for readers."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @property
    def current(self) -> Settings:
        """The settings in force now."""
        return self._settings

    def view(self, pick: Callable[[Settings], T]) -> Current[T]:
        """A view of one part (``lambda s: s.telegram``) that always reads the settings in force."""
        return lambda: pick(self._settings)

    def replace(self, settings: Settings) -> None:
        """Put new settings in force (every view sees them from its next read)."""
        self._settings = settings


def current(value: T | Current[T]) -> Current[T]:
    """``value`` as a view: components take a fixed section (tests) or a live view alike."""
    if callable(value):
        return value
    return lambda: value
