"""Every text the bridge shows a user, short and friendly, in one place.

Front-ends format nothing themselves: they call these. No text here may carry a secret,
a URL of an upstream or a traceback.
"""

from __future__ import annotations

from core.errors import (
    Interrupted,
    QuotaExceeded,
    RateLimited,
    Rejected,
    ShuttingDown,
    Unauthorized,
    Unavailable,
)
from core.model import Binding, ReplyMode


def _duration(seconds: float) -> str:
    """'45 seconds', '3 minutes', '2 hours' — rounded up, never '0 seconds'."""
    s = max(1, int(seconds + 0.999))
    if s < 90:
        return f"{s} second{'s' if s != 1 else ''}"
    m = (s + 59) // 60
    if m < 90:
        return f"{m} minutes"
    h = (m + 59) // 60
    return f"{h} hours"


# --- reply problems (what the renderer appends or posts) -------------------------------------


def quota(wait: float | None = None) -> str:
    """The backend's message quota is used up."""
    when = f" Please try again in about {_duration(wait)}." if wait else " Please try again later."
    return "⏳ The assistant has reached its message limit for now." + when


def throttled(wait: float | None) -> str:
    """The backend asked us to slow down for longer than we wait on our own."""
    when = f"in about {_duration(wait)}" if wait else "in a moment"
    return f"⏳ The assistant is busy right now. Please try again {when}."


def unavailable() -> str:
    """The backend is down or timed out before answering."""
    return "⚠️ The assistant is not reachable right now. Please try again in a little while."


def interrupted() -> str:
    """The reply broke off mid-way (appended after the partial text)."""
    return "⚠️ The reply was cut off before it finished."


def reply_lost() -> str:
    """A reply was cut off by a restart and the assistant kept no copy of it."""
    return "⚠️ The reply was interrupted by a restart. You may ask again."


def unauthorized() -> str:
    """The bridge's credentials for the backend were refused. Nobody is told but the log, so the
    user is asked to pass it on rather than promised that an admin knows."""
    return (
        "⚠️ The assistant is not set up correctly (its access was refused). "
        "Please let the bot's admin know."
    )


def rejected(reason: str = "") -> str:
    """The backend refused this message."""
    detail = f" ({reason.strip().rstrip('.')[:200]})" if reason.strip() else ""
    return f"⚠️ The assistant could not take that message{detail}."


def failed() -> str:
    """Anything unexpected: never a traceback."""
    return "⚠️ Something went wrong on our side. Please try again."


def empty_reply() -> str:
    """The backend answered with no text at all."""
    return "🤔 The assistant sent an empty reply. Try rephrasing your message."


def store_down() -> str:
    """The store (Redis/SQLite) is unreachable: nothing was sent upstream."""
    return "⚠️ I can't reach my memory right now, so I didn't pass your message on. Please try again shortly."


def for_error(error: BaseException, *, quota_wait: float | None = None) -> str:
    """The notice for a failed reply (typed upstream errors; anything else is 'failed')."""
    match error:
        case QuotaExceeded():
            return quota(quota_wait)
        case RateLimited(retry_after=wait):
            return throttled(wait)
        case Unauthorized():
            return unauthorized()
        case Rejected():
            return rejected(str(error))
        case Interrupted():
            return interrupted()
        case Unavailable():
            return unavailable()
        case ShuttingDown():
            return shutting_down()
        case _:
            return failed()


def shutting_down() -> str:
    """A reply ended by a restart of the bridge."""
    return "⚠️ The bridge is restarting; this reply was cut short. Please ask again in a minute."


# --- admission --------------------------------------------------------------------------------


def rate_limited(window: float) -> str:
    """The user sent too many messages in the window."""
    return f"🐢 You're sending messages quickly. Please wait a bit (limit per {_duration(window)})."


def busy() -> str:
    """Too many messages already waiting in this channel."""
    return "⏳ I'm still answering earlier messages here. Please send yours again in a moment."


def empty() -> str:
    """A message with no text."""
    return "I can only read text. Send me a message with some words in it."


def attachment_only() -> str:
    """A sticker, photo or file without a caption."""
    return "I can only read text for now. Add a caption or type your message."


def too_long(limit: int, length: int) -> str:
    """Text over the backend's input limit."""
    return (
        f"✂️ That message is {length} characters; the assistant takes at most {limit}. "
        "Please shorten it or split it into parts."
    )


def no_backend() -> str:
    """No binding and no default backend."""
    return "This chat isn't connected to an assistant yet. An admin can connect it with /bind."


# --- commands --------------------------------------------------------------------------------


def help_text(bot_name: str, *, group: bool, backends: list[str]) -> str:
    """/start and /help."""
    how = (
        f"Mention me (@{bot_name}) or reply to one of my messages and I'll answer."
        if group
        else "Just send me a message and I'll answer."
    )
    return (
        f"👋 I relay your messages to an AI assistant and stream its reply here.\n{how}\n\n"
        "Commands:\n"
        "/reset — start a fresh conversation\n"
        "/status — what this chat is connected to\n"
        "Admins: /bind <backend> [ids], /unbind, /mode mentions|all|off\n"
        f"Backends: {', '.join(backends) or 'none'}"
    )


def not_admin() -> str:
    """A non-admin tried an admin command."""
    return "🔒 Sorry, only admins of this chat can do that."


def usage(command: str, args: str) -> str:
    """A malformed command."""
    return f"Usage: {command} {args}".rstrip()


def unknown_command(command: str) -> str:
    """A command the bot doesn't have."""
    return f"I don't know {command}. Try /help."


def unknown_backend(name: str, known: list[str]) -> str:
    """/bind with a backend that isn't configured."""
    return f"There is no backend called '{name}'. Choose one of: {', '.join(known) or 'none'}."


def bound(binding: Binding) -> str:
    """After /bind."""
    return f"✅ This chat now talks to '{binding.backend}' ({_remote(binding)})."


def unbound(existed: bool) -> str:
    """After /unbind."""
    return (
        "✅ Unbound. This chat will use the default backend."
        if existed
        else "This chat wasn't bound."
    )


def reset_done(binding: Binding) -> str:
    """After /reset."""
    return f"🧹 Started a fresh conversation with '{binding.backend}'."


def mode_set(mode: ReplyMode) -> str:
    """After /mode."""
    what = {
        ReplyMode.MENTIONS: "I'll answer when mentioned or replied to.",
        ReplyMode.ALL: "I'll answer every message here.",
        ReplyMode.OFF: "I'll stay quiet here (commands still work).",
    }[mode]
    return f"✅ Mode set to '{mode.value}'. {what}"


def status_text(
    *, binding: Binding | None, backend: str | None, mode: ReplyMode, cooldown: float
) -> str:
    """/status."""
    if binding is not None:
        where = f"Bound to '{binding.backend}' ({_remote(binding)})"
    elif backend is not None:
        where = f"Not bound yet; the first message starts a conversation with '{backend}'"
    else:
        where = "Not bound, and there is no default backend"
    lines = [f"📡 {where}.", f"Mode: {mode.value}."]
    if cooldown > 0:
        lines.append(f"The assistant is paused for about {_duration(cooldown)} (message limit).")
    return "\n".join(lines)


def console_banner(backend: str | None, binding: Binding | None) -> str:
    """What ``bridge console`` says first: which backend and which conversation."""
    if binding is not None:
        where = f"backend '{binding.backend}', conversation {_remote(binding)}"
    elif backend is not None:
        where = f"backend '{backend}', a new conversation starts with your first message"
    else:
        where = "no backend"
    return f"bridge console: {where}. Commands: /reset /status /quit /help"


def console_help() -> str:
    """``/help`` in the console."""
    return (
        "/reset — start a fresh conversation\n"
        "/status — what this console is connected to\n"
        "/quit — leave (so does Ctrl-D)\n"
        "Anything else is sent to the assistant."
    )


def _remote(binding: Binding) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(binding.remote.items())) or "no conversation yet"
