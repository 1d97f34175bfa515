"""Cody AI API v1: conversations with a bot; replies come blocking or from a separate stream URL."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx

from core.backends.history import HISTORY_PAGES, Turn, reply_after
from core.backends.http import End, HttpBackend, maybe_stored
from core.config import CodySettings
from core.errors import (
    AssistantRefused,
    ConversationGone,
    Misconfigured,
    QuotaExceeded,
    Unavailable,
    UpstreamError,
)

_LOOPBACK_NAMES = {"localhost"}


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def stream_url_allowed(url: str, allowed: list[str]) -> str | None:
    """Why a stream URL may not be fetched, or None when it may.

    Each entry of ``allowed`` is ``host`` or ``host:port``; the URL must use https unless its host
    is loopback. The answer names the host only: the URL's path is a bearer capability.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "the stream URL is not a URL"
    host = (parsed.host or "").lower()
    if not host:
        return "the stream URL has no host"
    if parsed.scheme != "https" and not (parsed.scheme == "http" and _is_loopback(host)):
        return f"the stream URL for {host} is not https"
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    for entry in allowed:
        entry_url = httpx.URL(f"//{entry.strip().lower()}")
        if entry_url.host != host:
            continue
        if entry_url.port is None or entry_url.port == port:
            return None
    return f"stream host {host} is not in stream_hosts"


MAX_BOT_PAGES = 20  # GET /bots pages (15 bots each) read while looking for the configured bot


class CodyBackend(HttpBackend):
    """Cody v1: Bearer auth; a channel is bound to a conversation_id."""

    kind = "cody"
    reset_is_epoch = True  # Laravel sends a Unix timestamp

    def __init__(self, name: str, settings: CodySettings) -> None:
        super().__init__(name, settings)
        self.bot_id = settings.bot_id
        self.stream_hosts = list(settings.stream_hosts)
        self.streaming = settings.streaming
        self._blocking_timeout = httpx.Timeout(
            connect=settings.connect_timeout,
            # A blocking POST /messages is silent until the whole reply is generated.
            read=max(settings.read_timeout, settings.reply_deadline),
            write=10.0,
            pool=10.0,
        )

    def auth_headers(self) -> dict[str, str]:
        """Cody's Bearer token."""
        return {"Authorization": f"Bearer {self._secret}"}

    def remote_keys(self) -> tuple[str, ...]:
        """A binding carries the conversation."""
        return ("conversation_id",)

    def classify_status(self, response: httpx.Response, body: Any) -> UpstreamError:
        """402 is Cody's 30-day message quota."""
        if response.status_code == 402:
            return QuotaExceeded(f"{self.name}: the message quota is used up")
        return super().classify_status(response, body)

    def _classify_message(self, response: httpx.Response, body: Any) -> UpstreamError:
        """A message POST answered 404, or 422 naming ``conversation_id``: the conversation is
        gone upstream (deleted in the dashboard, or expired)."""
        status = response.status_code
        if status == 404 or (status == 422 and _names_field(body, "conversation_id")):
            message = self.server_message(body)
            return ConversationGone(message or f"{self.name}: the conversation is gone upstream")
        return self.classify_status(response, body)

    def _classify_create(self, response: httpx.Response, body: Any) -> UpstreamError:
        """``POST /conversations`` answered 404, or 422 naming ``bot_id``: the bot is refused."""
        status = response.status_code
        if status == 404 or (status == 422 and _names_field(body, "bot_id")):
            why = self.server_message(body) or f"the API refuses bot '{self.bot_id}'"
            return AssistantRefused(f"backends.{self.name}.bot_id: {why}")
        return self.classify_status(response, body)

    async def create_conversation(self, title: str) -> dict[str, str]:
        """Create a conversation with the configured bot (AssistantRefused when the API no
        longer lets us use it)."""
        body = await self.request_json(
            "POST",
            "/conversations",
            json={"name": title, "bot_id": self.bot_id},
            classify=self._classify_create,
        )
        data = body.get("data") if isinstance(body, dict) else None
        conversation_id = data.get("id") if isinstance(data, dict) else None
        if conversation_id is None or conversation_id == "":
            raise Unavailable(f"{self.name}: POST /conversations answered without an id")
        return {"conversation_id": str(conversation_id)}

    def reply(self, remote: dict[str, str], text: str) -> AsyncIterator[str]:
        """Send ``text`` once to the bound conversation and yield the reply."""
        if self.streaming:
            return self._streamed(remote, text)
        return self._blocking(remote, text)

    def _conversation(self, remote: dict[str, str]) -> str:
        conversation_id = remote.get("conversation_id", "")
        if not conversation_id:
            raise Unavailable(f"{self.name}: the binding has no conversation_id")
        return conversation_id

    async def _streamed(self, remote: dict[str, str], text: str) -> AsyncGenerator[str, None]:
        self.check_length(text)
        conversation_id = self._conversation(remote)
        deadline = self.deadline()
        body = await self.within(
            deadline,
            "sending",
            self.request_json(
                "POST",
                "/messages/stream",
                json={"content": text, "conversation_id": conversation_id, "redirect": False},
                prompt=True,
                classify=self._classify_message,
            ),
            prompt=True,
        )
        data = body.get("data") if isinstance(body, dict) else None
        stream_url = data.get("stream_url") if isinstance(data, dict) else None
        if not isinstance(stream_url, str):
            raise maybe_stored(
                Unavailable(f"{self.name}: POST /messages/stream answered without a stream_url")
            )
        refusal = stream_url_allowed(stream_url, self.stream_hosts)
        if refusal is not None:
            self.log.warning("%s: refused to open the reply stream: %s", self.name, refusal)
            raise Unavailable(f"{self.name}: {refusal}")
        # The stream URL is a single-use capability: no retry, no Authorization, never logged.
        try:
            response = await self.within(
                deadline,
                "opening the stream",
                self.send(
                    "GET",
                    stream_url,
                    headers={"Accept": "text/event-stream", "Cache-Control": "no-store"},
                    retry=False,
                    classify=self._classify_stream,
                    what="GET <stream>",
                ),
            )
        except UpstreamError as exc:
            # The message is stored upstream by now, whatever the stream host answered.
            raise maybe_stored(exc) from None
        # Cody opens the stream with a [START] line and ends it with [END], both outside JSON.
        events = self.event_parser("chunk", {"[START]": None, "[END]": End.END})
        stream = self.stream_text(response, events, deadline=deadline, needs_end=True)
        async with aclosing(stream) as pieces:
            async for piece in pieces:
                yield piece

    def _classify_stream(self, response: httpx.Response, body: Any) -> UpstreamError:
        # Our key never goes to the stream host, so none of its answers are about our credentials.
        return Unavailable(f"{self.name}: the reply stream answered {response.status_code}")

    async def _blocking(self, remote: dict[str, str], text: str) -> AsyncGenerator[str, None]:
        self.check_length(text)
        conversation_id = self._conversation(remote)
        body = await self.within(
            self.deadline(),
            "the reply",
            self.request_json(
                "POST",
                "/messages",
                json={"content": text, "conversation_id": conversation_id},
                http_timeout=self._blocking_timeout,
                prompt=True,
                classify=self._classify_message,
            ),
            prompt=True,
        )
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("content"), str):
            raise maybe_stored(
                Unavailable(f"{self.name}: POST /messages answered an unexpected body")
            )
        if data.get("failed_responding"):
            raise Unavailable(f"{self.name}: the bot failed to generate a reply")
        if data["content"]:
            yield data["content"]

    async def find_reply(self, remote: dict[str, str], prompt: str) -> str | None:
        """The stored reply to ``prompt`` from ``GET /messages?conversation_id=`` (newest first);
        a bot turn that failed to respond is no reply."""
        conversation_id = self._conversation(remote)
        newest_first: list[Turn] = []
        page = 1
        for _ in range(HISTORY_PAGES):
            params: dict[str, str | int] = {"conversation_id": conversation_id}
            if page > 1:
                params["page"] = page
            body = await self.request_json("GET", "/messages", params=params)
            messages = body.get("data") if isinstance(body, dict) else None
            if not isinstance(messages, list):
                raise Unavailable(f"{self.name}: GET /messages answered an unexpected body")
            newest_first.extend(t for t in map(_turn, messages) if t is not None)
            lookup = reply_after(newest_first, prompt)
            if lookup.found:
                return lookup.reply
            following = next_page(body, page)
            if following is None or following <= page:
                return None
            page = following
        return None

    async def check(self) -> str:
        """List the bots page by page (authenticated and cheap) until the configured one is
        found; Misconfigured when the API key has no such bot."""
        names: dict[str, str] = {}
        for page in range(1, MAX_BOT_PAGES + 1):
            body = await self.request_json("GET", f"/bots?page={page}")
            bots = body.get("data") if isinstance(body, dict) else None
            if not isinstance(bots, list):
                raise Unavailable(f"{self.name}: GET /bots answered an unexpected body")
            names.update(
                {str(b.get("id")): str(b.get("name", "")) for b in bots if isinstance(b, dict)}
            )
            if self.bot_id in names:
                return f"cody API v1 ok: bot {self.bot_id} ({names[self.bot_id]}) found"
            meta = body.get("meta")
            pagination = meta.get("pagination") if isinstance(meta, dict) else None
            pages = pagination.get("total_pages") if isinstance(pagination, dict) else 1
            if not bots or not isinstance(pages, int) or page >= pages:
                break
        raise Misconfigured(
            f"backends.{self.name}.bot_id: no bot '{self.bot_id}' among the {len(names)} bots "
            "this API key can use"
        )


def _names_field(body: Any, field: str) -> bool:
    """A Laravel 422 body's ``errors`` names ``field``."""
    errors = body.get("errors") if isinstance(body, dict) else None
    return isinstance(errors, dict) and bool(errors.get(field))


def _turn(message: Any) -> Turn | None:
    if not isinstance(message, dict) or not isinstance(message.get("content"), str):
        return None
    machine = bool(message.get("machine"))
    usable = machine and not message.get("failed_responding")
    return Turn(user=not machine, content=message["content"], usable=usable)


def next_page(body: Any, page: int) -> int | None:
    """The page after ``page`` from either pagination shape Cody has answered: the documented
    ``next_page``, else the observed ``links.next`` URL, else ``current_page < total_pages``."""
    meta = body.get("meta") if isinstance(body, dict) else None
    pagination = meta.get("pagination") if isinstance(meta, dict) else None
    if not isinstance(pagination, dict):
        return None
    following = pagination.get("next_page")
    if isinstance(following, int) and not isinstance(following, bool):
        return following
    links = pagination.get("links")
    link = links.get("next") if isinstance(links, dict) else None
    if isinstance(link, str):
        try:
            value = httpx.URL(link).params.get("page")
            return int(value) if value is not None else None
        except (httpx.InvalidURL, ValueError):
            return None
    current, total = pagination.get("current_page"), pagination.get("total_pages")
    if isinstance(current, int) and isinstance(total, int) and current < total:
        return current + 1
    return None
