"""The interface every remote AI API implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator


class Backend(ABC):
    """A remote AI API: makes conversations and streams replies as text deltas.

    Methods raise the typed errors of :mod:`core.errors` (QuotaExceeded, RateLimited, Unauthorized,
    Rejected, Unavailable, Interrupted), never raw httpx errors.
    """

    name: str
    kind: str
    max_input_chars: int | None = None
    reply_deadline: float = 300.0
    quota_cooldown: float = 3600.0

    @abstractmethod
    async def create_conversation(self, title: str) -> dict[str, str]:
        """Create a remote conversation; return its remote ids (string values)."""

    @abstractmethod
    def reply(self, remote: dict[str, str], text: str) -> AsyncIterator[str]:
        """Send ``text`` once and yield the reply's text deltas as they arrive."""

    async def find_reply(self, remote: dict[str, str], prompt: str) -> str | None:
        """The whole reply the upstream stored for ``prompt`` in this conversation, or None.

        Reads the stored history (never sends anything): the assistant message that follows the
        newest user message equal to ``prompt``. Raises the typed errors of :mod:`core.errors`.
        """
        return None

    @abstractmethod
    async def check(self) -> str:
        """Make a cheap authenticated call; return a short description of what answered."""

    def use_token(self, token: str) -> None:
        """Send ``token`` from the next request on (a reload); requests in flight keep theirs."""
        raise NotImplementedError

    def remote_keys(self) -> tuple[str, ...]:
        """Names of the remote ids a binding of this backend carries (for /bind usage)."""
        return ()

    def parse_remote(self, args: list[str]) -> dict[str, str]:
        """Remote ids from an admin's ``/bind`` arguments; raises ValueError with the usage."""
        keys = self.remote_keys()
        if len(args) != len(keys):
            raise ValueError(" ".join(f"<{k}>" for k in keys))
        return dict(zip(keys, args, strict=True))

    async def aclose(self) -> None:
        """Release connections."""
