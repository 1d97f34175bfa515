"""Log set-up: one line per event, plain or JSON, with secrets scrubbed from every record."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import TextIO

# Attributes a record may carry through ``extra=`` that belong on the line.
_CONTEXT = ("platform", "channel", "backend")
# Tokens in URLs (Telegram's /bot<token>/, Cody stream tokens) and Authorization-like values.
_PATTERNS = (
    re.compile(r"(/bot)[0-9]+:[A-Za-z0-9_-]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)(x-access-token['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9._-]+"),
)


class Redactor(logging.Filter):
    """Replaces known secrets, secret-shaped strings and the paths of capability URLs (Cody
    stream URLs, whose path is the credential) in every record with '***'."""

    def __init__(self, secrets: Iterable[str] = (), capability_hosts: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)
        hosts = "|".join(re.escape(h) for h in sorted(set(capability_hosts), key=len, reverse=True))
        # A host given without a port matches any port; one given with a port, only that one.
        self._capability = (
            re.compile(rf"(https?://(?:{hosts})(?::\d+)?)(?![\w.-])/[^\s'\"<>]*") if hosts else None
        )

    def learn(self, secrets: Iterable[str]) -> None:
        """Scrub these secrets too from now on (a reload brought new ones; old ones stay)."""
        known = set(self._secrets) | {s for s in secrets if len(s) >= 6}
        self._secrets = sorted(known, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        """``text`` without any secret."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        if self._capability is not None:
            text = self._capability.sub(r"\1/***", text)
        for pattern in _PATTERNS:
            text = pattern.sub(r"\1***", text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            # Render the traceback now, so it is scrubbed like the message.
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        record.msg, record.args = self.scrub(message), None
        return True


class PlainFormatter(logging.Formatter):
    """``time level logger: message [channel=… backend=…]``."""

    def format(self, record: logging.LogRecord) -> str:
        context = " ".join(
            f"{k}={getattr(record, k)}" for k in _CONTEXT if getattr(record, k, None)
        )
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line = f"{stamp} {record.levelname:<7} {record.name}: {record.getMessage()}"
        return f"{line} [{context}]" if context else line


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        data.update({k: getattr(record, k) for k in _CONTEXT if getattr(record, k, None)})
        return json.dumps(data, ensure_ascii=False)


# The bridge's own loggers; every other logger is a library's.
OWN_LOGGERS = ("bridge", "core", "bots")
# httpx logs every request URL at INFO: Telegram's carries the bot token, Cody's stream URL is a
# capability. These stay at WARNING whatever the level.
_URL_LOGGERS = ("httpx", "httpcore", "telegram.ext.Updater", "discord.http", "discord.gateway")


def setup_logging(
    *,
    fmt: str,
    level: str,
    redactor: Redactor,
    stream: TextIO | None = None,
    libraries: str = "INFO",
) -> None:
    """Route every log line to ``stream`` (stderr) through the redactor, in the chosen format.

    The redactor sits on the one handler, so it sees every record, libraries' included.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else PlainFormatter())
    handler.addFilter(redactor)
    logging.getLogger().handlers[:] = [handler]
    set_levels(level, libraries)


def set_levels(level: str, libraries: str = "INFO") -> None:
    """The bridge's loggers at ``level``; libraries' at ``libraries`` or above (at DEBUG,
    aiosqlite's SQL alone was most of the log), and never below WARNING for those whose lines
    carry URLs with secrets."""
    own = logging.getLevelName(level)
    logging.getLogger().setLevel(max(own, logging.getLevelName(libraries)))
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(own)
    for name in _URL_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, own))
