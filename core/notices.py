"""Every text the bridge shows a user, short and friendly, in one place, in the operator's words.

Each notice has a name and a template per language (all in :mod:`core.translations`); the
functions here return a :class:`Notice`, whose ``str()`` is the English text and which
:class:`Texts` renders in the configured language with the operator's overrides. Front-ends
format nothing themselves: they call these. No text here may carry a secret, a URL of an
upstream or a traceback.

Adding a notice: a function below, and its template in every language of
:mod:`core.translations` (a test checks every language has every name).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from core.errors import (
    AssistantRefused,
    ConversationGone,
    EmptyReply,
    Interrupted,
    QuotaExceeded,
    RateLimited,
    Rejected,
    ShuttingDown,
    Stopped,
    StoreFull,
    Unauthorized,
    Unavailable,
)
from core.model import Binding, ReplyMode, Scope
from core.translations import ASSISTANT_NAMES, CATALOGUES, EN, duration

S = TypeVar("S")

ASSISTANT = "assistant"  # the placeholder every notice may use: the backend's display_name


@dataclass(frozen=True, slots=True)
class Duration:
    """A wait, written out in the reader's language ('45 seconds', '3 minutes', '2 hours')."""

    seconds: float


class Notice(str):
    """A notice by name and arguments; as a ``str`` it is the English text (logs, tests)."""

    name: str
    args: dict[str, object]

    def __new__(cls, name: str, /, **args: object) -> Notice:
        """The notice ``name`` with its placeholders' values."""
        self = super().__new__(cls, _fill(EN, "en", name, args, None))
        self.name = name
        self.args = args
        return self


class Texts:
    """The notices in the configured language, with the operator's overrides and backend names."""

    def __init__(
        self,
        language: str = "en",
        overrides: Mapping[str, str] | None = None,
        *,
        assistants: Mapping[str, str] | None = None,
        default_backend: str | None = None,
    ) -> None:
        self._language = language
        self._templates = {**CATALOGUES[language], **(overrides or {})}
        self._assistants = dict(assistants or {})
        self._default_backend = default_backend

    def render(self, text: str, *, backend: str | None = None) -> str:
        """``text`` as the user reads it: a :class:`Notice` in this language, anything else as is.

        ``backend`` names the backend the notice is about (its display_name fills
        ``{assistant}``); without it, the default backend's.
        """
        if not isinstance(text, Notice):
            return text
        name = self._assistants.get(backend or self._default_backend or "")
        return _fill(self._templates, self._language, text.name, text.args, name)

    @property
    def language(self) -> str:
        """The language the notices are in."""
        return self._language


class LiveTexts(Texts):
    """:class:`Texts` that follow the settings in force: rebuilt when a reload replaces them."""

    def __init__(self, settings: Callable[[], S], build: Callable[[S], Texts]) -> None:
        self._read = settings
        self._build = build
        self._source = settings()
        self._texts = build(self._source)

    def render(self, text: str, *, backend: str | None = None) -> str:
        """As :meth:`Texts.render`, with the notices settings in force now."""
        return self._current().render(text, backend=backend)

    @property
    def language(self) -> str:
        """The language of the notices settings in force now."""
        return self._current().language

    def _current(self) -> Texts:
        source = self._read()
        if source is not self._source:
            self._source, self._texts = source, self._build(source)
        return self._texts


def placeholders(template: str) -> set[str]:
    """The ``{names}`` a template uses (ValueError when it is not a valid template)."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def check_overrides(overrides: Mapping[str, str]) -> list[str]:
    """One line per override that names no notice or uses a placeholder the notice lacks."""
    problems = []
    for name, template in overrides.items():
        if name not in EN:
            problems.append(f"notices.texts.{name}: no notice has this name (see the README)")
            continue
        allowed = placeholders(EN[name]) | {ASSISTANT}
        try:
            used = placeholders(template)
        except ValueError:
            problems.append(f"notices.texts.{name}: unbalanced braces (write {{{{ for a brace)")
            continue
        unknown = sorted(used - allowed)
        if unknown:
            offered = ", ".join(f"{{{p}}}" for p in sorted(allowed))
            problems.append(
                f"notices.texts.{name}: unknown placeholder {{{unknown[0]}}} (it may use {offered})"
            )
    return problems


def _fill(
    templates: Mapping[str, str],
    language: str,
    name: str,
    args: Mapping[str, object],
    assistant: str | None,
) -> str:
    values: dict[str, str] = {ASSISTANT: assistant or ASSISTANT_NAMES[language]}
    for key, value in args.items():
        if isinstance(value, Notice):
            values[key] = _fill(templates, language, value.name, value.args, assistant)
        elif isinstance(value, Duration):
            values[key] = duration(language, value.seconds)
        else:
            values[key] = str(value)
    return templates[name].format_map(values).rstrip()


# --- reply problems (what the renderer appends or posts) -------------------------------------


def quota(wait: float | None = None) -> Notice:
    """The backend's message quota is used up."""
    return Notice("quota", wait=Duration(wait)) if wait else Notice("quota_later")


def throttled(wait: float | None) -> Notice:
    """The backend asked us to slow down for longer than we wait on our own."""
    return Notice("throttled", wait=Duration(wait)) if wait else Notice("throttled_later")


def unavailable() -> Notice:
    """The backend is down or timed out before answering."""
    return Notice("unavailable")


def interrupted() -> Notice:
    """The reply broke off mid-way (appended after the partial text)."""
    return Notice("interrupted")


def reply_lost() -> Notice:
    """A reply was cut off by a restart and the assistant kept no copy of it."""
    return Notice("reply_lost")


def stopped() -> Notice:
    """The reply was stopped by the person who asked or an admin (appended after its text)."""
    return Notice("stopped")


def stop_refused() -> Notice:
    """Someone other than the asker or an admin pressed Stop (only they see it)."""
    return Notice("stop_refused")


def stop_none() -> Notice:
    """/stop found no reply of the caller streaming in the chat."""
    return Notice("stop_none")


def stop_button() -> Notice:
    """The label of the Stop button on a streaming reply."""
    return Notice("stop_button")


def unauthorized() -> Notice:
    """The bridge's credentials for the backend were refused. Nobody is told but the log, so the
    user is asked to pass it on rather than promised that an admin knows."""
    return Notice("unauthorized")


def rejected(reason: str = "") -> Notice:
    """The backend refused this message."""
    reason = reason.strip().rstrip(".")[:200]
    return Notice("rejected_because", reason=reason) if reason else Notice("rejected")


def failed() -> Notice:
    """Anything unexpected: never a traceback."""
    return Notice("failed")


def empty_reply() -> Notice:
    """The backend answered with no text at all."""
    return Notice("empty_reply")


def store_down() -> Notice:
    """The store (Redis/SQLite) is unreachable: nothing was sent upstream."""
    return Notice("store_down")


def store_full() -> Notice:
    """The store is out of memory (Redis ``maxmemory`` with ``noeviction``): nothing can be
    stored, so nothing was sent upstream."""
    return Notice("store_full")


def for_store(error: BaseException) -> Notice:
    """The notice for a store that failed: full, or unreachable."""
    return store_full() if isinstance(error, StoreFull) else store_down()


def conversation_replaced() -> Notice:
    """The conversation was gone upstream; the message went to a new one."""
    return Notice("conversation_replaced")


def conversation_gone() -> Notice:
    """The conversation an admin bound by its ids is gone upstream: an admin must bind again."""
    return Notice("conversation_gone")


def assistant_refused() -> Notice:
    """The upstream refuses a conversation with the configured character or bot."""
    return Notice("assistant_refused")


def assistant_refused_admin(channel: str, reason: str) -> Notice:
    """What the admins are told privately when the upstream refuses the character or bot."""
    return Notice("assistant_refused_admin", channel=channel, reason=reason.rstrip("."))


def for_error(error: BaseException, *, quota_wait: float | None = None) -> Notice:
    """The notice for a failed reply (typed upstream errors; anything else is 'failed')."""
    match error:
        case QuotaExceeded():
            return quota(quota_wait)
        case RateLimited(retry_after=wait):
            return throttled(wait)
        case Unauthorized():
            return unauthorized()
        case ConversationGone():
            return conversation_gone()
        case AssistantRefused():
            return assistant_refused()
        case Rejected():
            return rejected(str(error))
        case Interrupted():
            return interrupted()
        case Unavailable():
            return unavailable()
        case ShuttingDown():
            return shutting_down()
        case Stopped():
            return stopped()
        case EmptyReply():
            return empty_reply()
        case _:
            return failed()


def shutting_down() -> Notice:
    """A reply ended by a restart of the bridge."""
    return Notice("shutting_down")


# --- admission --------------------------------------------------------------------------------


def rate_limited(window: float) -> Notice:
    """The user sent too many messages in the window."""
    return Notice("rate_limited", window=Duration(window))


def busy() -> Notice:
    """Too many messages already waiting in this channel."""
    return Notice("busy")


def empty() -> Notice:
    """A message with no text."""
    return Notice("empty")


def attachment_only() -> Notice:
    """A sticker, photo or file without a caption."""
    return Notice("attachment_only")


def too_long(limit: int, length: int) -> Notice:
    """Text over the backend's input limit."""
    return Notice("too_long", limit=limit, length=length)


def no_backend() -> Notice:
    """No binding and no default backend."""
    return Notice("no_backend")


def access_denied() -> Notice:
    """A blocked or not-allowed user, in a private chat (at most once an hour)."""
    return Notice("access_denied")


# --- commands --------------------------------------------------------------------------------


def help_text(bot: str, *, group: bool, commands: str, backends: list[str]) -> Notice:
    """/start and /help; ``commands`` is the list the command table writes."""
    how = Notice("help_group", bot=bot) if group else Notice("help_private")
    return Notice("help", how=how, commands=commands, backends=", ".join(backends) or "-")


def not_admin() -> Notice:
    """A non-admin tried an admin command."""
    return Notice("not_admin")


def usage(command: str, args: str) -> Notice:
    """A malformed command."""
    return Notice("usage", command=command, args=args)


def unknown_command(command: str) -> Notice:
    """A command the bot doesn't have."""
    return Notice("unknown_command", command=command)


def unknown_backend(name: str, known: list[str]) -> Notice:
    """/bind with a backend that isn't configured."""
    return Notice("unknown_backend", name=name, known=", ".join(known) or "-")


def bound(binding: Binding) -> Notice:
    """After /bind."""
    return Notice("bound", backend=binding.backend, remote=_remote(binding))


def unbound(existed: bool) -> Notice:
    """After /unbind."""
    return Notice("unbound") if existed else Notice("not_bound")


def reset_done(binding: Binding, *, own: bool = False) -> Notice:
    """After /reset (``own``: the caller's conversation in user scope)."""
    return Notice("reset_mine" if own else "reset_done", backend=binding.backend)


def mode_set(mode: ReplyMode) -> Notice:
    """After /mode."""
    return Notice("mode_set", mode=mode.value, what=Notice(f"mode_{mode.value}"))


def scope_set(scope: Scope) -> Notice:
    """After /scope."""
    return Notice("scope_set", scope=scope.value, what=Notice(f"scope_{scope.value}"))


def status_text(
    *,
    binding: Binding | None,
    backend: str | None,
    mode: ReplyMode,
    scope: Scope = Scope.SHARED,
    cooldown: float,
    private: bool = False,
) -> Notice:
    """/status; in a private chat (the console's too) without the mode and scope."""
    if binding is not None:
        where = Notice("status_bound", backend=binding.backend, remote=_remote(binding))
    elif backend is not None:
        where = Notice("status_unbound", backend=backend)
    else:
        where = Notice("status_nothing")
    paused: object = Notice("status_paused", wait=Duration(cooldown)) if cooldown > 0 else ""
    if private:  # one person, always answered: neither the reply mode nor the scope applies
        return Notice("status_private", where=where, paused=paused)
    return Notice("status", where=where, mode=mode.value, scope=scope.value, paused=paused)


def blocked(user: str, changed: bool) -> Notice:
    """After /block."""
    return Notice("blocked_user" if changed else "already_blocked", user=user)


def unblocked(user: str, changed: bool) -> Notice:
    """After /unblock."""
    return Notice("unblocked_user" if changed else "not_blocked", user=user)


# --- allowances (what /usage, /grant and the plan alerts say) --------------------------------


def usage_line(scope: str, key: str, used: int, limit: int | None, reset: str) -> Notice:
    """One allowance's use against its limit (``scope``: user, chat, server or plan)."""
    what = Notice(f"usage_{scope}", key=key)
    if limit is None:
        return Notice("usage_line_free", what=what, used=used, reset=reset)
    return Notice("usage_line", what=what, used=used, limit=limit, reset=reset)


def plan_forecast(backend: str, date: str | None) -> Notice:
    """When a plan runs out at the rate so far (``date``), or that it lasts its window."""
    if date is None:
        return Notice("usage_lasts", backend=backend)
    return Notice("usage_runs_out", backend=backend, date=date)


def plan_state(backend: str, used: int, limit: int, reset: str, forecast: Notice) -> Notice:
    """A plan's use, limit, when it starts again and its forecast."""
    return Notice(
        "plan_state", backend=backend, used=used, limit=limit, reset=reset, forecast=forecast
    )


def plan_alert(share: str, state: Notice) -> Notice:
    """What the admins hear when a plan crosses a share of its limit (``share``: "80%")."""
    return Notice("allowance_alert", share=share, state=state)


def usage_top(top: str) -> Notice:
    """The heaviest users of the window, as ``key (count)`` pairs."""
    return Notice("usage_top", top=top)


def usage_off() -> Notice:
    """/usage when no limit is configured."""
    return Notice("usage_off")


def granted(user: str, extra: int, used: int) -> Notice:
    """After /grant: the person's extra messages in their window, and their use."""
    return Notice("granted", user=user, extra=extra, used=used)


# --- the operator's console (English: it is the operator's own terminal) ---------------------


def console_banner(backend: str | None, binding: Binding | None) -> str:
    """What ``bridge console`` says first: which backend and which conversation."""
    if binding is not None:
        where = f"backend '{binding.backend}', conversation {_remote(binding)}"
    elif backend is not None:
        where = f"backend '{backend}', a new conversation starts with your first message"
    else:
        where = "no backend"
    return f"bridge console: {where}. Commands: /reset /status /quit /help"


def console_unreadable(line: int | None) -> str:
    """Input that is not UTF-8 text: its message was skipped, and the console goes on."""
    where = f"input line {line}" if line is not None else "that input"
    return f"bridge console: {where} is not UTF-8 text; its message was not sent."


def console_help() -> str:
    """What the console adds to ``/help``: its own way out."""
    return "/quit — leave (so does Ctrl-D)"


def _remote(binding: Binding) -> object:
    ids = ", ".join(f"{k} {v}" for k, v in sorted(binding.remote.items()))
    return ids or Notice("no_remote")
