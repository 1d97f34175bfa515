"""What the bridge does when an AI API fails: count and log it, pause a backend out of quota,
find a reply the upstream stored although its stream failed, and say what went wrong.

One policy for the relay, the admin operations and recovery alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from core import notices
from core.backends.base import Backend
from core.errors import ConversationGone, QuotaExceeded, StoreUnavailable, UpstreamError
from core.metrics import Metrics
from core.store.base import Store

log = logging.getLogger(__name__)

FIND_REPLY_WAITS = (1.0, 2.0)  # an upstream may still be storing the reply: look again

Replace = Callable[[ConversationGone], Awaitable[dict[str, str] | None]]
"""Given the conversation found gone upstream, a new one's remote ids (None: not replaced)."""


class Upstream:
    """The configured backends and the failure policy toward them (one instance per process)."""

    def __init__(
        self,
        *,
        store: Store,
        backends: Mapping[str, Backend],
        texts: notices.Texts | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._backends = dict(backends)
        self._texts = texts or notices.Texts()
        self._metrics = metrics or Metrics()

    def backend(self, name: str) -> Backend | None:
        """A configured backend by name."""
        return self._backends.get(name)

    @property
    def names(self) -> list[str]:
        """Configured backend names, sorted."""
        return sorted(self._backends)

    async def reply(
        self,
        backend: Backend,
        remote: dict[str, str],
        prompt: str,
        *,
        replace: Replace | None = None,
    ) -> AsyncIterator[str]:
        """``backend``'s reply to ``prompt``, delta by delta. When the stream fails after the
        prompt may have been stored upstream, the rest comes from the upstream's history; when
        it is not there, the stream's own error is raised. A quota error pauses the backend
        before it is raised, so a message sent right after its notice meets the cooldown.

        When the conversation is gone upstream, ``replace`` may give a new one: the prompt,
        provably not taken, goes there once (nothing was shown yet: the refusal comes first)."""
        deltas = backend.reply(remote, prompt)
        so_far: list[str] = []
        try:
            async for delta in deltas:
                so_far.append(delta)
                yield delta
            return
        except UpstreamError as exc:
            failure = exc
        finally:
            # Closed here, not left to the garbage collector: it holds an HTTP response.
            aclose = getattr(deltas, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        if isinstance(failure, ConversationGone) and replace is not None and not so_far:
            renewed = await replace(failure)
            if renewed is None:
                raise failure
            async for delta in self.reply(backend, renewed, prompt):
                yield delta
            return
        if isinstance(failure, QuotaExceeded):
            await self._pause(backend, failure)
        rest = None
        if failure.maybe_stored:
            with contextlib.suppress(Exception):
                rest = await self._rest_of(backend, remote, prompt, "".join(so_far))
        if rest is None:
            raise failure
        log.info("reply completed from the upstream's history (%s)", failure.kind)
        if rest:
            yield rest

    async def _rest_of(
        self, backend: Backend, remote: dict[str, str], prompt: str, so_far: str
    ) -> str | None:
        """The part of the stored reply not shown yet; None when there is none to continue."""
        stored = await self.find_reply(backend, remote, prompt)
        if stored is None or not stored.startswith(so_far):
            return None
        return stored[len(so_far) :]

    async def find_reply(self, backend: Backend, remote: dict[str, str], prompt: str) -> str | None:
        """The upstream's stored reply to ``prompt``, looked up a few times while it may still
        be generating; None when it has none (or cannot be asked)."""
        for wait in (0.0, *FIND_REPLY_WAITS):
            if wait:
                await asyncio.sleep(wait)
            try:
                found = await backend.find_reply(remote, prompt)
            except UpstreamError as exc:
                log.info(
                    "stored history unavailable: %s", exc.kind, extra={"backend": backend.name}
                )
                return None
            if found:
                return found
        return None

    async def failed(self, backend: Backend, exc: UpstreamError, *, pause: bool = True) -> None:
        """Count and log a failure; a quota error also pauses the backend (unless ``pause`` is
        False: :meth:`reply` paused it already)."""
        self._metrics.upstream_errors.labels(backend.name, exc.kind).inc()
        level = (
            logging.ERROR
            if exc.kind in ("unauthorized", "rejected", "refused")
            else logging.WARNING
        )
        log.log(level, "upstream %s: %s", exc.kind, exc, extra={"backend": backend.name})
        if pause and isinstance(exc, QuotaExceeded):
            await self._pause(backend, exc)

    def error_notice(self, backend: Backend, exc: BaseException) -> notices.Notice:
        """The notice for a failure of ``backend`` (with the quota's wait), not yet rendered."""
        wait = self._cooldown(backend, exc) if isinstance(exc, QuotaExceeded) else None
        return notices.for_error(exc, quota_wait=wait)

    def notice_for(self, backend: Backend, exc: BaseException) -> str:
        """The notice a failed reply of ``backend`` ends with, as the user reads it."""
        return self._texts.render(self.error_notice(backend, exc), backend=backend.name)

    async def _pause(self, backend: Backend, exc: QuotaExceeded) -> None:
        with contextlib.suppress(StoreUnavailable):
            await self._store.set_cooldown(backend.name, self._cooldown(backend, exc))

    @staticmethod
    def _cooldown(backend: Backend, exc: QuotaExceeded) -> float:
        return exc.cooldown if exc.cooldown is not None else backend.quota_cooldown
