"""Every chat command, once: its name, arguments, who may use it, and the handler that returns
the answer. Telegram's command menus, Discord's slash commands and /help are generated from
:data:`COMMANDS`; the front-ends only parse what the platform delivers and post the answer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from core import notices
from core.access import Access
from core.allowances import MessageFacts
from core.conversations import Conversations, conversation_key
from core.errors import CommandError, StoreUnavailable
from core.model import Origin, ReplyMode, Scope
from core.stop import Press, Stops
from core.usage import Ledger

log = logging.getLogger(__name__)


class Who(StrEnum):
    """Who may use a command (the handler may narrow it further, as /reset does)."""

    EVERYONE = "everyone"
    ADMINS = "admins"


class Kind(StrEnum):
    """What an argument holds, which decides how each platform asks for it."""

    WORD = "word"
    CHOICE = "choice"
    BACKEND = "backend"  # a configured backend's name (Discord autocompletes it)
    USER = "user"  # a user id (Telegram: or a reply to their message; Discord: a user picker)
    REST = "rest"  # the remaining words, space-separated


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument of a command: ``summary`` names its description among the notices."""

    name: str
    summary: str
    kind: Kind = Kind.WORD
    choices: tuple[str, ...] = ()
    required: bool = True

    def shown(self) -> str:
        """The argument in a usage line: ``<backend>``, ``[remote]``, ``mentions|all|off``."""
        inner = "|".join(self.choices) if self.choices else self.name
        if self.choices and self.required:
            return inner
        return f"<{inner}>" if self.required else f"[{inner}]"


@dataclass(frozen=True, slots=True)
class Invocation:
    """One use of a command: where, by whom, and how to learn whether they are an admin."""

    platform: str
    channel: str
    """The channel key (``tg:<chat>[:<topic>]``, ``dc:<channel>``)."""
    user: str
    """The caller (``tg:<id>``, ``dc:<id>``)."""
    space: str
    """Whose block list /block changes (see :func:`core.access.space_of`)."""
    private: bool
    bot: str
    """How users address the bot (``@name`` on Telegram, a mention on Discord)."""
    is_admin: Callable[[], Awaitable[bool]]
    parent: str = ""
    """The parent channel's key for a thread (its scope applies unless the thread has one)."""
    target: str = ""
    """A user picked by replying to their message (Telegram /block), as a bare id."""
    prefix: str = "/"
    """How a command is typed for everyone (``/``)."""
    admin_prefix: str = "/"
    """How an admin command is typed (``/bridge `` on Discord)."""
    origin: Origin | None = None
    """Ids for the access rule (a blocked or not-allowed caller is refused); None skips it."""
    answers_privately: bool = False
    """Only the caller sees the answer (a private chat, Discord's ephemeral answers)."""


class UsageError(Exception):
    """The words do not fit the command's arguments."""


Handler = Callable[["ChatCommands", Invocation, Mapping[str, str]], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Command:
    """A chat command: ``summary`` names its one-line description among the notices."""

    name: str
    summary: str
    who: Who
    handler: Handler
    args: tuple[Arg, ...] = ()
    aliases: tuple[str, ...] = ()
    """Other names it answers to when typed; menus and /help show only ``name``."""

    def usage(self, inv: Invocation) -> notices.Notice:
        """The usage answer for this command, typed as the platform types it."""
        prefix = inv.admin_prefix if self.who is Who.ADMINS else inv.prefix
        return notices.usage(f"{prefix}{self.name}", " ".join(a.shown() for a in self.args))


_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?(?=\s|$)")


def split_command(text: str) -> tuple[str, str, list[str]] | None:
    """``/name@bot arg arg`` -> (name lower-cased, bot or "", words); None if not a command."""
    match = _COMMAND.match(text)
    if match is None:
        return None
    return match.group(1).lower(), match.group(2) or "", text[match.end() :].split()


def parse_words(command: Command, words: Sequence[str], *, target: str = "") -> dict[str, str]:
    """Map typed words onto ``command``'s arguments; UsageError when they do not fit.

    Choices are matched case-insensitively and given back as written in the table; a user is a
    numeric id, or ``target`` (the author of the replied-to message) when none is typed (the
    words left are then only enough for the arguments after it).
    """
    values: dict[str, str] = {}
    rest = list(words)
    for index, arg in enumerate(command.args):
        if arg.kind is Kind.REST:
            if rest:
                values[arg.name] = " ".join(rest)
                rest = []
            elif arg.required:
                raise UsageError(arg.name)
            continue
        after = sum(1 for a in command.args[index + 1 :] if a.required)
        if arg.kind is Kind.USER and target and len(rest) <= after:
            values[arg.name] = target
            continue
        if not rest:
            if arg.required:
                raise UsageError(arg.name)
            continue
        values[arg.name] = check_value(arg, rest.pop(0))
    if rest:
        raise UsageError("too many words")
    return values


def check_value(arg: Arg, value: str) -> str:
    """One argument's value, normalised; UsageError when it cannot be one."""
    value = value.strip()
    if arg.kind is Kind.CHOICE:
        for choice in arg.choices:
            if choice == value.lower():
                return choice
        raise UsageError(arg.name)
    if arg.kind is Kind.USER:
        value = value.removeprefix("@")
        if not value.isascii() or not value.isdigit():
            raise UsageError(arg.name)
        return str(int(value))
    if not value:
        raise UsageError(arg.name)
    return value


# --- the handlers -------------------------------------------------------------------------------


async def _help(cc: ChatCommands, inv: Invocation, args: Mapping[str, str]) -> str:
    return cc.help(inv)


async def _status(cc: ChatCommands, inv: Invocation, args: Mapping[str, str]) -> str:
    status = await cc.conversations.status(inv.channel, inv.user, parent=inv.parent)
    return status.describe(private=inv.private)


async def _reset(cc: ChatCommands, inv: Invocation, args: Mapping[str, str]) -> str:
    scope = await cc.conversations.scope(inv.channel, parent=inv.parent)
    own = scope is Scope.USER
    if not (own or inv.private) and not await inv.is_admin():
        return notices.not_admin()
    key = conversation_key(inv.channel, inv.user, scope)
    binding = await cc.conversations.reset(key, by=inv.user, fallback=inv.channel if own else "")
    return notices.reset_done(binding, own=own)


async def _bind(cc: ChatCommands, inv: Invocation, args: Mapping[str, str]) -> str:
    remote = args.get("remote", "").split()
    return notices.bound(
        await cc.conversations.bind(inv.channel, args["backend"], remote, inv.user)
    )


async def _unbind(cc: ChatCommands, inv: Invocation, args: Mapping[str, str]) -> str:
    return notices.unbound(await cc.conversations.unbind(inv.channel))


async def _mode(cc: ChatCommands, inv: Invocation, args: Mapping[str, str]) -> str:
    mode = ReplyMode(args["mode"])
    await cc.conversations.set_mode(inv.channel, mode)
    return notices.mode_set(mode)


async def _scope(cc: ChatCommands, inv: Invocation, args: Mapping[str, str]) -> str:
    scope = Scope(args["scope"])
    await cc.conversations.set_scope(inv.channel, scope)
    return notices.scope_set(scope)


async def _block(cc: ChatCommands, inv: Invocation, args: Mapping[str, str]) -> str:
    user = args["user"]
    changed = await cc.set_blocked(inv, user, True)
    return notices.blocked(user, changed)


async def _unblock(cc: ChatCommands, inv: Invocation, args: Mapping[str, str]) -> str:
    user = args["user"]
    changed = await cc.set_blocked(inv, user, False)
    return notices.unblocked(user, changed)


async def _usage(cc: ChatCommands, inv: Invocation, args: Mapping[str, str]) -> str:
    origin = inv.origin or Origin(user=0, private=inv.private)
    facts = MessageFacts(
        author=inv.user, channel=inv.channel, server=origin.space, roles=origin.roles
    )
    # The admin's view names other people: only where no one else reads the answer.
    admin = inv.answers_privately and await cc._admin(inv)
    lines = await cc.ledger.report(facts, admin=admin)
    return "\n".join(cc.texts.render(line) for line in lines)


async def _grant(cc: ChatCommands, inv: Invocation, args: Mapping[str, str]) -> str:
    try:
        amount = int(args["amount"])
    except ValueError:
        command = cc.get("grant")
        assert command is not None
        return command.usage(inv)
    platform_key = inv.user.partition(":")[0]  # "tg" / "dc", as in every user key
    return await cc.ledger.grant(f"{platform_key}:{args['user']}", amount)


async def _stop(cc: ChatCommands, inv: Invocation, args: Mapping[str, str]) -> str:
    if cc.stops is None or cc.stops.stop_own(inv.channel, inv.user) is not Press.STOPPED:
        return notices.stop_none()
    return notices.stopped()


def _choice(name: str, summary: str, values: type[StrEnum]) -> Arg:
    """An argument that takes one of an enum's values."""
    return Arg(name, summary, Kind.CHOICE, tuple(v.value for v in values))


_WHOM = Arg("user", "arg_user", Kind.USER)  # Telegram: an id, or a reply to their message

COMMANDS: tuple[Command, ...] = (
    # Telegram opens every private chat with /start.
    Command("help", "cmd_help", Who.EVERYONE, _help, aliases=("start",)),
    Command("status", "cmd_status", Who.EVERYONE, _status),
    Command("reset", "cmd_reset", Who.EVERYONE, _reset),
    Command("usage", "cmd_usage", Who.EVERYONE, _usage),
    Command("stop", "cmd_stop", Who.EVERYONE, _stop),
    Command(
        "bind",
        "cmd_bind",
        Who.ADMINS,
        _bind,
        args=(
            Arg("backend", "arg_backend", Kind.BACKEND),
            Arg("remote", "arg_remote", Kind.REST, required=False),
        ),
    ),
    Command("unbind", "cmd_unbind", Who.ADMINS, _unbind),
    Command(
        "mode",
        "cmd_mode",
        Who.ADMINS,
        _mode,
        args=(_choice("mode", "arg_mode", ReplyMode),),
    ),
    Command(
        "scope",
        "cmd_scope",
        Who.ADMINS,
        _scope,
        args=(_choice("scope", "arg_scope", Scope),),
    ),
    Command("block", "cmd_block", Who.ADMINS, _block, args=(_WHOM,)),
    Command("unblock", "cmd_unblock", Who.ADMINS, _unblock, args=(_WHOM,)),
    Command(
        "grant",
        "cmd_grant",
        Who.ADMINS,
        _grant,
        args=(_WHOM, Arg("amount", "arg_amount")),
    ),
)


class ChatCommands:
    """Runs the commands of :data:`COMMANDS` for any platform; answers are rendered text."""

    def __init__(
        self,
        *,
        conversations: Conversations,
        access: Access,
        texts: notices.Texts,
        ledger: Ledger,
        table: Sequence[Command] = COMMANDS,
        stops: Stops | None = None,
    ) -> None:
        self.stops = stops
        """The replies streaming in this process (for /stop)."""
        self.conversations = conversations
        self.ledger = ledger
        self.access = access
        self.texts = texts
        self.table = tuple(table)
        self._by_name = {n: c for c in self.table for n in (c.name, *c.aliases)}

    def get(self, name: str) -> Command | None:
        """The command called ``name`` (lower case), or None."""
        return self._by_name.get(name)

    def listed(self, who: Who | None = None) -> list[Command]:
        """Commands for menus and /help, optionally only those for ``who``."""
        return [c for c in self.table if who is None or c.who is who]

    def describe(self, part: Command | Arg | str, language: str | None = None) -> str:
        """A command's or an argument's one-line description (or the notice named ``part``) in
        ``language``, one of :data:`core.translations.LANGUAGES`; by default in the configured
        language, with the operator's overrides."""
        notice = notices.Notice(part if isinstance(part, str) else part.summary)
        if language is None or language == self.texts.language:
            return self.texts.render(notice)
        return notices.Texts(language).render(notice)

    def backend_names(self) -> list[str]:
        """Configured backends (for autocompletion)."""
        return self.conversations.backend_names

    async def run_words(self, name: str, words: Sequence[str], inv: Invocation) -> str:
        """Parse typed words and run the command (Telegram). Never raises."""
        command = self.get(name)
        if command is None:
            return self.texts.render(notices.unknown_command(f"{inv.prefix}{name}"))
        try:
            args = parse_words(command, words, target=inv.target)
        except UsageError:
            if command.who is Who.ADMINS and not await self._admin(inv):
                return self.texts.render(notices.not_admin())
            return self.texts.render(command.usage(inv))
        return await self.run(command, args, inv)

    async def run(self, command: Command, args: Mapping[str, str], inv: Invocation) -> str:
        """Check who may, run the handler, and render its answer. Never raises."""
        try:
            if command.who is Who.ADMINS and not await inv.is_admin():
                return self.texts.render(notices.not_admin())
            if command.who is Who.EVERYONE and await self._refused(inv):
                # As for messages: a short answer only the caller sees, else silence ("").
                return self.texts.render(notices.access_denied()) if inv.answers_privately else ""
            answer = await command.handler(self, inv, args)
        except CommandError as err:
            answer = err.args[0] if err.args else notices.failed()
        except StoreUnavailable as exc:
            answer = notices.for_store(exc)
        except Exception:
            log.exception("command %s failed in %s", command.name, inv.channel)
            answer = notices.failed()
        return self.texts.render(answer)

    def help(self, inv: Invocation) -> str:
        """The /help text: how to talk here, then the commands as this platform types them."""
        lines = [self.texts.render(notices.Notice("help_commands"))]
        lines += [self._line(c, inv.prefix) for c in self.listed(Who.EVERYONE)]
        lines += ["", self.texts.render(notices.Notice("help_admin_commands"))]
        lines += [self._line(c, inv.admin_prefix) for c in self.listed(Who.ADMINS)]
        return self.texts.render(
            notices.help_text(
                inv.bot,
                group=not inv.private,
                commands="\n".join(lines),
                backends=self.backend_names(),
            )
        )

    def _line(self, command: Command, prefix: str) -> str:
        shown = " ".join([f"{prefix}{command.name}", *(a.shown() for a in command.args)])
        return f"{shown} — {self.describe(command)}"

    async def set_blocked(self, inv: Invocation, user: str, blocked: bool) -> bool:
        """Change the block list of the invocation's space for a bare user id."""
        platform_key = inv.user.partition(":")[0]  # "tg" / "dc", as in every user key
        return await self.access.set_blocked(inv.space, f"{platform_key}:{user}", blocked)

    async def _refused(self, inv: Invocation) -> bool:
        """A caller the access rule keeps out (never an admin)."""
        if inv.origin is None or not await self.access.refuses(inv.user, inv.platform, inv.origin):
            return False
        return not await self._admin(inv)

    @staticmethod
    async def _admin(inv: Invocation) -> bool:
        try:
            return await inv.is_admin()
        except Exception:
            log.exception("admin check failed in %s", inv.channel)
            return False
