"""Logging as `bridge` sets it up, captured for a test to read."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator

from core.logs import OWN_LOGGERS, Redactor, setup_logging


@contextlib.contextmanager
def production_logs(redactor: Redactor) -> Iterator[io.StringIO]:
    """Log as `bridge` does (one scrubbing handler on the root), at DEBUG for every library too,
    into a buffer the test reads; the previous logging set-up is restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    libraries = ("httpx", "httpcore", "telegram", "discord")
    saved_own = {name: logging.getLogger(name).level for name in OWN_LOGGERS}
    saved_levels = {name: logging.getLogger(name).level for name in libraries}
    buffer = io.StringIO()
    setup_logging(fmt="plain", level="DEBUG", redactor=redactor, stream=buffer)
    for name in libraries:  # normally quieter; opened here so the scrubbing is what is tested
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in (saved_levels | saved_own).items():
            logging.getLogger(name).setLevel(level)
