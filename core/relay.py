"""The relay: admits a message, finds its conversation, runs one reply at a time per channel."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.model import Binding, Incoming, ReplyMode
from core.surface import Surface


class Outcome(StrEnum):
    """How the relay dealt with one message (for logs, metrics and tests)."""

    REPLIED = "replied"
    FAILED = "failed"
    DUPLICATE = "duplicate"
    RATE_LIMITED = "rate_limited"
    COOLDOWN = "cooldown"
    BUSY = "busy"
    REFUSED = "refused"  # empty, too long, no backend
    SHUTTING_DOWN = "shutting_down"


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    """What /status shows."""

    channel: str
    binding: Binding | None
    backend: str | None
    mode: ReplyMode
    cooldown: float


class Relay:
    """Platform-neutral heart of the bridge (signatures; implementation follows)."""

    async def handle(self, msg: Incoming, surface: Surface) -> Outcome:  # pragma: no cover
        """Relay one user message and render the reply on ``surface``. Never raises."""
        raise NotImplementedError

    @property
    def backend_names(self) -> list[str]:  # pragma: no cover
        """Configured backend names."""
        raise NotImplementedError

    async def bind(
        self, channel: str, backend: str, remote_args: list[str], by: str
    ) -> Binding:  # pragma: no cover
        """Bind a channel to a backend (new remote conversation when no ids are given).
        Raises CommandError with a short answer on bad input."""
        raise NotImplementedError

    async def unbind(self, channel: str) -> bool:  # pragma: no cover
        """Drop the channel's binding."""
        raise NotImplementedError

    async def reset(self, channel: str, by: str) -> Binding:  # pragma: no cover
        """A new remote conversation for the channel, same backend."""
        raise NotImplementedError

    async def set_mode(self, channel: str, mode: ReplyMode) -> None:  # pragma: no cover
        """Set when the bot answers in the channel."""
        raise NotImplementedError

    async def mode(self, channel: str, default: ReplyMode) -> ReplyMode:  # pragma: no cover
        """The channel's reply mode (``default`` when never set)."""
        raise NotImplementedError

    async def status(self, channel: str) -> ChannelStatus:  # pragma: no cover
        """Binding, backend, mode and cooldown of the channel."""
        raise NotImplementedError
