"""Discord's own word on each channel's write budget, read from the responses discord.py gets.

discord.py keeps the ``X-RateLimit-*`` headers to itself and waits out 429s internally, so the
bridge listens on its HTTP session (an aiohttp trace) and hands each channel's remaining count,
window reset and any 429 to the pacing budget that the renderer consults before every write.
"""

from __future__ import annotations

import logging
import re
from types import SimpleNamespace

import aiohttp
from multidict import CIMultiDictProxy

from bots.discord.surface import pace_key
from core.pacing import Pacing, bot_key

log = logging.getLogger(__name__)

# Message creates and edits: the writes that share a channel's bucket.
_WRITE = re.compile(r"/channels/(\d+)/messages(?:/\d+)?$")
_WRITE_METHODS = frozenset({"POST", "PATCH"})
_BOT = bot_key(pace_key(0))  # the whole bot's state: its budget, pauses and refusals


def _number(headers: CIMultiDictProxy[str], name: str) -> float | None:
    try:
        value = headers.get(name)
        return None if value is None else float(value)
    except ValueError:
        return None


def rate_limit_trace(pacing: Pacing) -> aiohttp.TraceConfig:
    """An aiohttp trace that feeds every message write's rate-limit headers to ``pacing``."""
    trace = aiohttp.TraceConfig()

    async def on_request_end(
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        await count_refusal(pacing, params.response)
        if params.method not in _WRITE_METHODS:
            return
        match = _WRITE.search(params.url.path)
        if match is None:
            return
        await observe_response(pacing, pace_key(int(match.group(1))), params.response)

    trace.on_request_end.append(on_request_end)
    return trace


async def count_refusal(pacing: Pacing, response: aiohttp.ClientResponse) -> None:
    """Count a 401, 403 or 429 toward the invalid-request guard (a 429 of a shared resource
    is not the bot's and does not count, as with Discord)."""
    status = response.status
    shared = response.headers.get("X-RateLimit-Scope") == "shared"
    if status in (401, 403) or (status == 429 and not shared):
        try:
            await pacing.refused(_BOT)
        except Exception as exc:  # the guard only counts; a failure here must not cost a write
            log.debug("refusal not counted: %s", type(exc).__name__)


async def observe_response(pacing: Pacing, key: str, response: aiohttp.ClientResponse) -> None:
    """Record one write's answer: the channel's remaining writes and reset, and any 429."""
    headers = response.headers
    try:
        if response.status == 429 and headers.get("X-RateLimit-Scope") != "shared":
            wait = _number(headers, "Retry-After") or _number(headers, "X-RateLimit-Reset-After")
            # A global 429 is the whole bot's: every channel of every process waits it out.
            bot = headers.get("X-RateLimit-Global", "").lower() == "true"
            await pacing.flooded(bot_key(key) if bot else key, wait or 1.0)
        remaining = _number(headers, "X-RateLimit-Remaining")
        reset_after = _number(headers, "X-RateLimit-Reset-After")
        if remaining is not None and reset_after is not None:
            await pacing.observe(key, int(remaining), reset_after)
    except Exception as exc:  # the headers only refine pacing; a failure here must not cost a write
        log.debug("rate-limit headers of %s not recorded: %s", key, type(exc).__name__)
