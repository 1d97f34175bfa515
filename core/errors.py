"""Typed failures the core understands. Front-ends and backends raise these; the renderer turns
them into notices."""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error the bridge handles on purpose."""


class UpstreamError(BridgeError):
    """A remote AI API failed. ``partial_ok`` is False where the text so far cannot be trusted."""

    kind = "upstream"
    maybe_stored = False
    """True when the prompt reached the upstream and the reply may sit in its stored history
    (a 500 after the POST, a timeout before the first chunk, a stream that broke or closed early):
    the relay then looks it up with :meth:`Backend.find_reply` instead of giving up."""
    not_taken = False
    """True when the upstream provably did not take the user's message: the connection was
    refused, or the request carrying it was answered 4xx. Its allowance charge is given back."""


class QuotaExceeded(UpstreamError):
    """The account's message quota is used up (Cody 402, Aurora 429 with success:false)."""

    kind = "quota"

    def __init__(self, message: str = "", cooldown: float | None = None) -> None:
        super().__init__(message)
        self.cooldown = cooldown


class RateLimited(UpstreamError):
    """Throttled by the upstream; ``retry_after`` seconds when the server said."""

    kind = "throttled"

    def __init__(self, retry_after: float | None, message: str = "") -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unauthorized(UpstreamError):
    """The backend refused our credentials."""

    kind = "unauthorized"


class Rejected(UpstreamError):
    """The backend refused the request itself (400/422); ``str(error)`` is the server's message."""

    kind = "rejected"


class Misconfigured(UpstreamError):
    """The upstream does not know an id the config names (a Cody bot, an Aurora character);
    ``str(error)`` starts with the setting, e.g. ``backends.NAME.bot_id: ...``."""

    kind = "misconfigured"


class ConversationGone(Rejected):
    """The upstream no longer knows the bound conversation (deleted in its app, or expired):
    Cody's 422 naming ``conversation_id`` or a 404, Aurora's 400 or 404 for a ``chatId`` it does
    not list. It answers before taking the message, so the prompt may go to a new conversation.
    ``str(error)`` is the server's message."""

    kind = "gone"
    not_taken = True


class AssistantRefused(Rejected):
    """The upstream refuses to start a conversation with the configured character or bot (it
    was deleted or made private): only an admin can mend the settings. ``str(error)`` starts
    with the setting, e.g. ``backends.NAME.bot_id: ...``."""

    kind = "refused"
    not_taken = True


class Unavailable(UpstreamError):
    """5xx, connect errors, timeouts before any text arrived."""

    kind = "unavailable"


class Interrupted(UpstreamError):
    """The stream broke off after it started."""

    kind = "interrupted"


class ShuttingDown(UpstreamError):
    """The bridge is stopping and the grace period ran out mid-reply."""

    kind = "shutdown"


class EmptyReply(BridgeError):
    """The backend answered with no text at all (not a failure; shown as a notice)."""


class FloodControl(BridgeError):
    """A platform asked us to slow down in one chat; raised by a Surface write.

    ``scoped``: the platform said the wait is this chat's; False when it did not say (a
    Telegram 429 names no scope), and the core decides whether it is the whole bot's."""

    def __init__(self, retry_after: float, *, scoped: bool = True) -> None:
        super().__init__(f"flood control: retry after {retry_after:g}s")
        self.retry_after = retry_after
        self.scoped = scoped


class StoreUnavailable(BridgeError):
    """The store (Redis or SQLite) could not be reached."""


class StoreFull(StoreUnavailable):
    """The store answers but refuses every write: Redis reached its ``maxmemory`` with the
    ``noeviction`` policy. Reads still work; nothing new can be recorded."""


class StoreRefused(StoreUnavailable):
    """The store answered but refuses this configuration (a wrong password, a server that is not
    Redis, cluster mode on one side only): waiting will not help, an edit will. ``str(error)``
    starts with the setting to change."""


class CommandError(BridgeError):
    """An admin command that cannot be done; ``str(error)`` is a short answer for the user."""


class WriteFailed(BridgeError):
    """A platform write failed and provably did not land (a 5xx answer, a refused connection):
    safe to try again."""


class WriteUncertain(BridgeError):
    """A write may have reached the platform although it failed (a send that timed out): it is
    never repeated blindly, or the chat would show the text twice."""


class ConnectionDropped(WriteUncertain):
    """A write whose connection broke before any answer came. It may have landed, but unlike a
    slow answer it as likely did not: a surface repeats a send once or twice (with the
    platform's idempotency key where it has one) before giving it up as uncertain."""


class ChatUnwritable(BridgeError):
    """The bot may not write to this chat: the user blocked it, a permission is missing, or the
    chat, channel, thread or topic was deleted."""


class Stopped(BridgeError):
    """The person who asked (or an admin) stopped the reply: its text so far stays, final."""
