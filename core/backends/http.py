"""What both HTTP backends share: the client, the retry rule, error mapping, Retry-After parsing and
reading a Server-Sent Events reply as text deltas."""

from __future__ import annotations

import asyncio
import email.utils
import enum
import json
import logging
import math
import random
import ssl
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from datetime import UTC
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, TypeVar

import certifi
import httpx
from httpx_sse import EventSource, ServerSentEvent

from core.backends.base import Backend
from core.config import AuroraSettings, CodySettings
from core.errors import (
    Interrupted,
    RateLimited,
    Rejected,
    Unauthorized,
    Unavailable,
    UpstreamError,
)
from core.text import SurrogateJoiner, well_formed

# Errors raised before a single request byte left: the server provably never saw the request.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MAX_SERVER_MESSAGE = 300


class End(enum.Enum):
    """Returned by an event parser when the stream's end marker arrived."""

    END = "end"


Parsed = str | End | None
"""What a parser makes of one event's data: text, the end marker, or None (skip it)."""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date (RFC 9110)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def parse_ratelimit_reset(
    value: str | None, *, epoch: bool, now: float | None = None
) -> float | None:
    """Seconds to wait from ``x-ratelimit-reset``: a Unix timestamp (``epoch``) or seconds left."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    if epoch:
        number -= time.time() if now is None else now
    return max(0.0, number)


def retry_after_from(headers: httpx.Headers, *, reset_is_epoch: bool) -> float | None:
    """The wait a 429 asks for: ``Retry-After``, else ``x-ratelimit-reset``."""
    wait = parse_retry_after(headers.get("retry-after"))
    if wait is None:
        wait = parse_ratelimit_reset(headers.get("x-ratelimit-reset"), epoch=reset_is_epoch)
    return wait


E = TypeVar("E", bound=UpstreamError)


def maybe_stored(error: E) -> E:
    """Mark an error raised after the prompt went out: the upstream may hold the reply."""
    error.maybe_stored = True
    return error


def response_json(response: httpx.Response) -> Any:
    """The body as JSON, or None when it is not JSON (never raises); its strings are
    :func:`~core.text.well_formed` (a JSON escape may be a lone surrogate)."""
    try:
        return _mended(response.json())
    except (ValueError, httpx.ResponseNotRead):
        return None


def _mended(value: Any) -> Any:
    if isinstance(value, str):
        return well_formed(value)
    if isinstance(value, list):
        return [_mended(item) for item in value]
    if isinstance(value, dict):
        return {key: _mended(item) for key, item in value.items()}
    return value


def is_event_stream(response: httpx.Response) -> bool:
    """True when the response says it is Server-Sent Events."""
    media = response.headers.get("content-type", "").partition(";")[0]
    return "text/event-stream" in media.lower()


def not_taken(error: E) -> E:
    """Mark an error that proves the prompt was not taken (never sent, or answered 4xx)."""
    error.not_taken = True
    return error


def _as_is(error: E) -> E:
    return error


class ShardedTransport(httpx.AsyncBaseTransport):
    """Spreads requests round-robin over several independent connection pools.

    httpcore 1.0 rescans every connection of a pool for every queued request whenever a request
    starts or ends (encode/httpcore#1035), so a thousand concurrent streams on one pool spend
    more CPU there than on the streams themselves; small pools keep each scan short. Pools are
    unbounded: the relay already bounds replies in flight (one per channel).
    """

    def __init__(self, shards: int = 32, **transport_options: Any) -> None:
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=16)
        # One TLS context for all pools: building one loads the CA bundle (tens of ms).
        tls = ssl.create_default_context(cafile=certifi.where())
        self._pools = [
            httpx.AsyncHTTPTransport(verify=tls, limits=limits, **transport_options)
            for _ in range(shards)
        ]
        self._turn = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send on the next pool in turn."""
        self._turn = (self._turn + 1) % len(self._pools)
        return await self._pools[self._turn].handle_async_request(request)

    async def aclose(self) -> None:
        """Close every pool."""
        for pool in self._pools:
            await pool.aclose()


class HttpBackend(Backend):
    """A Backend over one httpx.AsyncClient, with the retry and error rules both APIs share.

    Subclasses supply the auth header and :meth:`classify_status` for their error bodies.
    """

    reset_is_epoch = False
    """Whether ``x-ratelimit-reset`` is a Unix timestamp (Cody) or seconds left (Aurora)."""

    def __init__(self, name: str, settings: CodySettings | AuroraSettings) -> None:
        self.name = name
        self.settings = settings
        self.base_url = settings.base_url.rstrip("/")
        self.reply_deadline = settings.reply_deadline
        self.quota_cooldown = settings.quota_cooldown
        self.max_input_chars = settings.max_input_chars
        self.log = logging.getLogger(f"core.backends.{self.kind}")
        self._secret = settings.token.get_secret_value()
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=settings.connect_timeout,
                read=settings.read_timeout,
                write=10.0,
                pool=10.0,
            ),
            # Token-authenticated APIs need no cookies; a jar that refuses all of them also keeps
            # anything the API sets from riding along to another host.
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            follow_redirects=False,
            headers={"User-Agent": "bridge/0.1"},
            transport=ShardedTransport(),
        )

    def use_token(self, token: str) -> None:
        """Send ``token`` from the next request on (a reload); requests in flight keep theirs."""
        self._secret = token

    def auth_headers(self) -> dict[str, str]:
        """The credential header(s) for API calls."""
        raise NotImplementedError

    def classify_status(self, response: httpx.Response, body: Any) -> UpstreamError:
        """Map a non-2xx API answer (body already read) to a typed error."""
        status = response.status_code
        message = self.server_message(body)
        if status == 401:
            return Unauthorized(f"{self.name}: the API refused the credentials")
        if status == 429:
            wait = retry_after_from(response.headers, reset_is_epoch=self.reset_is_epoch)
            return RateLimited(wait, f"{self.name}: rate limited")
        if status in (400, 403, 404, 409, 413, 422):
            return Rejected(message or f"{self.name}: the request was refused ({status})")
        if status >= 500:
            return Unavailable(f"{self.name}: the server failed ({status})")
        return Unavailable(f"{self.name}: unexpected answer ({status})")

    def server_message(self, body: Any) -> str:
        """The human message in an error body, short and scrubbed of our credential."""
        if not isinstance(body, dict):
            return ""
        for key in ("message", "error"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return self.scrub(value.strip()[:_MAX_SERVER_MESSAGE])
        return ""

    def scrub(self, text: str) -> str:
        """Remove the credential from text that may reach a log or a user."""
        return text.replace(self._secret, "***") if self._secret else text

    def url(self, path: str) -> str:
        """An API URL under the configured base."""
        return f"{self.base_url}/{path.lstrip('/')}"

    async def send(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        retry: bool = True,
        http_timeout: httpx.Timeout | None = None,
        classify: Callable[[httpx.Response, Any], UpstreamError] | None = None,
        what: str = "request",
        prompt: bool = False,
    ) -> httpx.Response:
        """Send once, retrying only what provably never reached the server; return a 2xx response
        whose body is not read yet (the caller closes it). Other outcomes raise typed errors.

        With ``prompt`` (the request carries a user's message) an error that came after the
        request may have reached the server is marked :func:`maybe_stored`.
        """
        classify = classify or self.classify_status
        ambiguous = maybe_stored if prompt else _as_is
        attempt = 0
        while True:
            request = self._client.build_request(
                method,
                url,
                json=json,
                headers=headers,
                timeout=http_timeout if http_timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
            try:
                response = await self._client.send(request, stream=True)
            except _NEVER_SENT as exc:
                if retry and attempt < self.settings.max_retries:
                    attempt += 1
                    delay = min(2.0, 0.25 * 2**attempt) * random.uniform(0.5, 1.0)
                    self.log.info(
                        "%s: %s failed to connect (%s), retry %d in %.2fs",
                        self.name,
                        what,
                        type(exc).__name__,
                        attempt,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    continue
                refused = not_taken if prompt else _as_is
                raise refused(
                    Unavailable(f"{self.name}: cannot reach the server ({type(exc).__name__})")
                ) from None
            except httpx.TimeoutException as exc:
                raise ambiguous(
                    Unavailable(f"{self.name}: no answer in time ({type(exc).__name__})")
                ) from None
            except httpx.HTTPError as exc:
                raise ambiguous(
                    Unavailable(f"{self.name}: connection failed ({type(exc).__name__})")
                ) from None
            if response.is_success:
                return response
            error = await self._error_from(response, classify)
            if (
                retry
                and isinstance(error, RateLimited)
                and error.retry_after is not None
                and error.retry_after <= self.settings.max_retry_after
                and attempt < self.settings.max_retries
            ):
                attempt += 1
                self.log.info(
                    "%s: %s throttled, retry %d in %.2fs",
                    self.name,
                    what,
                    attempt,
                    error.retry_after,
                )
                await asyncio.sleep(error.retry_after)
                continue
            self.log.debug("%s: %s answered %d", self.name, what, response.status_code)
            if response.status_code >= 500:
                # A 5xx comes from past the throttle and auth checks: the message may be stored
                # (Cody: "fetch the list of messages ... to get the generated error message").
                raise ambiguous(error)
            if prompt and 400 <= response.status_code < 500:
                raise not_taken(error)  # refused before it was taken: no provider counts it
            raise error

    async def _error_from(
        self,
        response: httpx.Response,
        classify: Callable[[httpx.Response, Any], UpstreamError],
    ) -> UpstreamError:
        try:
            await response.aread()
        except httpx.HTTPError:
            pass  # the status alone still tells what happened
        finally:
            await response.aclose()
        return classify(response, response_json(response))

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        retry: bool = True,
        http_timeout: httpx.Timeout | None = None,
        params: dict[str, str | int] | None = None,
        prompt: bool = False,
        classify: Callable[[httpx.Response, Any], UpstreamError] | None = None,
    ) -> Any:
        """An authenticated API call answering JSON; returns the decoded body. ``prompt`` and
        ``classify`` as for :meth:`send`."""
        what = f"{method} /{path.lstrip('/')}"
        url = self.url(path)
        if params:
            url = str(httpx.URL(url, params=params))
        ambiguous = maybe_stored if prompt else _as_is
        response = await self.send(
            method,
            url,
            json=json,
            headers=self.auth_headers(),
            retry=retry,
            http_timeout=http_timeout,
            what=what,
            prompt=prompt,
            classify=classify,
        )
        try:
            await response.aread()
        except httpx.TimeoutException:
            raise ambiguous(Unavailable(f"{self.name}: {what} timed out")) from None
        except httpx.HTTPError as exc:
            raise ambiguous(
                Unavailable(f"{self.name}: {what} broke off ({type(exc).__name__})")
            ) from None
        finally:
            await response.aclose()
        body = response_json(response)
        if body is None:
            raise ambiguous(Unavailable(f"{self.name}: {what} did not answer JSON"))
        return body

    def event_parser(
        self, key: str, markers: Mapping[str, Parsed] | None = None
    ) -> Callable[[str], Parsed]:
        """A parser for events whose JSON data holds the text under ``key``; ``markers`` maps the
        data lines that are not JSON (a start or end marker) to what they mean."""
        known = dict(markers or {})

        def parse(data: str) -> Parsed:
            if data in known:
                return known[data]
            try:
                payload = json.loads(data)
            except ValueError:
                self.log.debug("%s: skipped a non-JSON data line", self.name)
                return None
            text = payload.get(key) if isinstance(payload, dict) else None
            if not isinstance(text, str):
                self.log.debug("%s: skipped an event without %s", self.name, key)
                return None
            return text

        return parse

    async def stream_text(
        self,
        response: httpx.Response,
        parse: Callable[[str], Parsed],
        *,
        deadline: float,
        needs_end: bool,
    ) -> AsyncGenerator[str, None]:
        """Yield text deltas from an SSE response until it ends; closes the response.

        A break after text arrived raises Interrupted, before any text Unavailable; either is
        :func:`maybe_stored` (the prompt is upstream by now). With ``needs_end`` a close without
        the end marker counts as a break.
        """
        got_text = False
        # JSON escapes may carry an emoji as two surrogate halves in two events: joined here.
        joiner = SurrogateJoiner()

        def broken(why: str) -> UpstreamError:
            if got_text:
                return maybe_stored(Interrupted(f"{self.name}: the reply broke off ({why})"))
            return maybe_stored(Unavailable(f"{self.name}: the reply did not start ({why})"))

        try:
            if not is_event_stream(response):
                raise broken("not an event stream")
            events = EventSource(response).aiter_sse()
            loop = asyncio.get_running_loop()
            read_timeout = self.settings.read_timeout
            try:
                while True:
                    # The deadline is applied around each wait, never across a yield, so it
                    # cannot fire while the consumer is busy between two deltas. While it is
                    # further away than the read timeout, the read timeout fires first anyway:
                    # no timer is needed then (one per chunk adds up over many streams).
                    try:
                        if deadline - loop.time() > read_timeout:
                            event: ServerSentEvent | None = await anext(events, None)
                        else:
                            async with asyncio.timeout_at(deadline):
                                event = await anext(events, None)
                    except TimeoutError:
                        raise broken("took too long") from None
                    except httpx.ReadTimeout:
                        raise broken("stalled") from None
                    except httpx.HTTPError as exc:
                        raise broken(type(exc).__name__) from None
                    if event is None and needs_end:
                        raise broken("closed before the end")
                    if event is not None and event.event != "message":
                        self.log.debug("%s: skipped event type %r", self.name, event.event[:40])
                        continue
                    parsed = End.END if event is None else parse(event.data)
                    text = joiner.end() if parsed is End.END else joiner.feed(parsed or "")
                    if text:
                        got_text = True
                        yield text
                    if parsed is End.END:
                        return
            finally:
                await events.aclose()
        finally:
            await response.aclose()

    def deadline(self) -> float:
        """The loop time by which the current reply must be complete."""
        return asyncio.get_running_loop().time() + self.reply_deadline

    async def within(self, deadline: float, what: str, coro: Any, *, prompt: bool = False) -> Any:
        """Await ``coro`` before ``deadline``; past it, the reply is Unavailable (nothing shown),
        :func:`maybe_stored` when ``prompt`` says the message may be upstream by then."""
        try:
            async with asyncio.timeout_at(deadline):
                return await coro
        except TimeoutError:
            error = Unavailable(f"{self.name}: {what} took too long")
            raise (maybe_stored(error) if prompt else error) from None

    def check_length(self, text: str) -> None:
        """Refuse text over the backend's limit before it is sent."""
        limit = self.max_input_chars
        if limit is not None and len(text) > limit:
            raise Rejected(f"The message is too long ({len(text)} characters, at most {limit}).")

    async def aclose(self) -> None:
        """Close the HTTP client and its connections."""
        await self._client.aclose()
