"""Platform-neutral values that flow between the front-ends, the relay and the store."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar


class ReplyMode(StrEnum):
    """When a bot answers in a shared channel (DMs and private chats always get an answer)."""

    MENTIONS = "mentions"
    ALL = "all"
    OFF = "off"


class Scope(StrEnum):
    """Who shares a channel's remote conversation: everyone in it, or each user their own."""

    SHARED = "shared"
    USER = "user"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a message comes from, as the ids access control and scope need (front-ends fill it)."""

    user: int
    private: bool
    roles: tuple[int, ...] = ()
    places: tuple[int, ...] = ()
    """The chat or channel id, then its parent channel and category (Discord) if any."""
    space: str = ""
    """Whose runtime block list applies: the group chat or the server (``tg:<chat>``,
    ``dc:guild:<id>``); empty in private chats."""
    parent: str = ""
    """The channel key whose scope a thread inherits when it has none of its own."""


@dataclass(frozen=True, slots=True)
class Incoming:
    """One user message, as a front-end hands it to the relay.

    ``channel`` is the platform channel key (``tg:<chat>[:<topic>]``, ``dc:<channel>``,
    ``console:<name>``); ``message_id`` is unique per platform and is what de-duplication keys on.
    """

    platform: str
    channel: str
    author: str
    text: str
    message_id: str
    author_name: str = ""
    quote: str = ""
    """The text of someone else's message this one replies to."""
    quote_author: str = ""
    origin: Origin | None = None
    """Ids for access control and scope; None (console, tests) means a private chat."""
    backend: str = ""
    """The backend a new conversation starts on when it has none (in user scope: the
    channel's); empty means the default backend."""
    operator: bool = False
    """Sent by the bridge's operator through their own tool (the console), not by a chat user:
    no per-user rate limit applies (:func:`core.relay.rate_limit_for`)."""


@dataclass(frozen=True, slots=True)
class Binding:
    """A channel's remote conversation: which backend, its remote ids, and who bound it when."""

    backend: str
    remote: dict[str, str] = field(default_factory=dict)
    bound_by: str = ""
    bound_at: float = field(default_factory=time.time)
    pinned: bool = False
    """An admin bound it by its remote ids (``/bind cody <id>``): when it is gone upstream the
    bridge asks an admin to bind again instead of starting a new conversation."""

    def to_fields(self) -> dict[str, str]:
        """Flatten to string fields (a Redis hash or a SQLite row)."""
        fields = {
            "backend": self.backend,
            "bound_by": self.bound_by,
            "bound_at": repr(self.bound_at),
        }
        if self.pinned:
            fields["pinned"] = "1"
        fields.update({f"remote.{k}": v for k, v in self.remote.items()})
        return fields

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> Binding:
        """Inverse of :meth:`to_fields`."""
        remote = {
            k.removeprefix("remote."): v for k, v in fields.items() if k.startswith("remote.")
        }
        return cls(
            backend=fields["backend"],
            remote=remote,
            bound_by=fields.get("bound_by", ""),
            bound_at=float(fields.get("bound_at", "0") or 0),
            pinned=fields.get("pinned") == "1",
        )


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    """Every per-channel setting the store keeps for one key: what ``bridge bindings export``
    writes as one JSON line and ``import`` reads back. A new per-channel setting is a new field
    here, read in each store's :meth:`Store.channel_records` and written in ``restore_channel``.

    ``channel`` is a channel key, or a space whose block list it carries (a Telegram group is
    both; a Discord server's list is ``dc:guild:<id>``). The channel's backend is its binding's.
    """

    channel: str
    binding: Binding | None = None
    mode: ReplyMode | None = None
    scope: Scope | None = None
    blocked: tuple[str, ...] = ()
    """The runtime block list of this space (platform user keys such as ``tg:5``), sorted."""

    @property
    def empty(self) -> bool:
        """True when the record carries no setting at all."""
        return (self.binding, self.mode, self.scope, self.blocked) == (None, None, None, ())

    def to_json(self) -> dict[str, Any]:
        """A JSON object; settings the channel does not have are left out."""
        data: dict[str, Any] = {"channel": self.channel}
        if self.binding is not None:
            b = self.binding
            data["binding"] = {
                "backend": b.backend,
                "remote": dict(b.remote),
                "bound_by": b.bound_by,
                "bound_at": b.bound_at,
            }
            if b.pinned:
                data["binding"]["pinned"] = True
        if self.mode is not None:
            data["mode"] = self.mode.value
        if self.scope is not None:
            data["scope"] = self.scope.value
        if self.blocked:
            data["blocked"] = list(self.blocked)
        return data

    @classmethod
    def from_json(cls, data: Any) -> ChannelRecord:
        """Inverse of :meth:`to_json` (a field left out is a setting the channel does not have,
        so older exports still read); ValueError with a short reason on a malformed object."""
        if not isinstance(data, dict) or not isinstance(data.get("channel"), str):
            raise ValueError("expected an object with a 'channel' string")
        unknown = set(data) - {"channel", "binding", "mode", "scope", "blocked"}
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        return cls(
            channel=data["channel"],
            binding=_binding_of(data.get("binding")),
            mode=_choice_of(ReplyMode, "mode", data.get("mode")),
            scope=_choice_of(Scope, "scope", data.get("scope")),
            blocked=_blocked_of(data.get("blocked")),
        )


def _binding_of(raw: Any) -> Binding | None:
    """The ``binding`` object of an exported line."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("backend"), str):
        raise ValueError("'binding' needs a 'backend' string")
    remote = raw.get("remote") or {}
    if not isinstance(remote, dict):
        raise ValueError("'binding.remote' must be an object")
    return Binding(
        backend=raw["backend"],
        remote={str(k): str(v) for k, v in remote.items()},
        bound_by=str(raw.get("bound_by", "")),
        bound_at=float(raw.get("bound_at") or 0),
        pinned=raw.get("pinned") is True,
    )


E = TypeVar("E", bound=StrEnum)


def _choice_of(kind: type[E], name: str, raw: Any) -> E | None:
    """One of ``kind``'s values, by its name in an exported line."""
    if raw is None:
        return None
    try:
        return kind(raw)
    except ValueError:
        known = ", ".join(m.value for m in kind)
        raise ValueError(f"'{name}' must be one of {known}") from None


def _blocked_of(raw: Any) -> tuple[str, ...]:
    """The ``blocked`` list of an exported line, sorted and without repeats."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(u, str) and u for u in raw):
        raise ValueError("'blocked' must be a list of user keys (strings)")
    return tuple(sorted(set(raw)))


class MeterScope(StrEnum):
    """What one allowance counts: a person (across every chat), a chat, a server or group, or
    the operator's plan with one backend."""

    USER = "user"
    CHAT = "chat"
    SERVER = "server"
    PLAN = "plan"


@dataclass(frozen=True, slots=True)
class Window:
    """One window of an allowance: ``period`` names its length ("1d", "12h"); ``start`` and
    ``end`` are unix seconds. The count starts again at ``end``, and its counter expires then."""

    period: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Meter:
    """One allowance that applies to a message: who or what is counted (``key``), in which
    window, and how many messages it allows (None: counted, never refused)."""

    scope: MeterScope
    key: str
    limit: int | None
    window: Window


@dataclass(frozen=True, slots=True)
class Usage:
    """How much of one meter's window is used, and the extra messages granted in it."""

    used: int
    granted: int = 0


@dataclass(frozen=True, slots=True)
class Admission:
    """What the store answers for one incoming message, in one round-trip."""

    duplicate: bool
    rate_limited: bool
    busy: bool
    """The channel's queue is full (checked after de-duplication: a duplicate is never busy)."""
    turn: bool
    """The message is first in its channel's queue and holds the lease: it may reply now."""
    binding: Binding | None
    cooldowns: dict[str, float]
    """Backend name -> seconds of quota cooldown left (only active ones)."""
    over: Meter | None = None
    """The first allowance the message is over (its window's end is when it starts again): the
    message was charged to none of them and not queued."""
    used: tuple[int, ...] = ()
    """Each meter's count after this message was charged, in the order given; empty when
    nothing was charged now."""
    sent: bool = False
    """Its record was written as sent: it took the turn at once in a bound channel, so its
    prompt is POSTed next (no conversation to create first, no wait)."""

    @property
    def queued(self) -> bool:
        """The message took a place in its channel's queue (and has a journal record)."""
        return not (self.duplicate or self.rate_limited or self.busy or self.over is not None)


@dataclass(frozen=True, slots=True)
class Turn:
    """The answer to "is it my turn?": and tickets of dead processes found ahead (now removed,
    or held first for recovery)."""

    acquired: bool
    lapsed: list[str] = field(default_factory=list)
    ahead: str | None = None
    """The ticket first in line when the turn was not taken: the lease's holder, else the head
    of the queue."""


@dataclass(frozen=True, slots=True)
class ChannelRules:
    """What the store says about one message before it is relayed: scope and block list."""

    scope: Scope | None
    """The first channel's scope that is set (a thread's own, else its parent's), or None."""
    blocked: bool
    """The user is on the runtime block list of one of the spaces asked about."""
    backend: str | None = None
    """The backend the first channel is bound to, if it is bound."""
