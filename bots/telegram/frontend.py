"""The Telegram front-end: python-telegram-bot's Application feeding the relay.

Updates are processed concurrently, so one chat's long reply never delays another; the relay
keeps replies in one channel in order. In polling mode our own :class:`Poller` fetches updates
and confirms each only once the relay has recorded it.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlparse

from telegram import Bot, Message, MessageEntity, Update, User
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bots.frontend import FrontEnd, StartupError, StartupUnavailable, TokenCheck
from bots.telegram.commands import invocation, menus
from bots.telegram.facts import channel_key, is_private, origin_of, replied_author, topic_of
from bots.telegram.polling import Poller
from bots.telegram.surface import ChatTarget, DraftPolicy, TelegramSurface, target_from
from bots.telegram.webhook import WebhookServer
from core import notices
from core.arrival import ArrivalOrder, Place
from core.bridge import Bridge
from core.budget import Budget
from core.commands import split_command
from core.config import TelegramSettings
from core.decide import Action, Facts
from core.errors import BridgeError
from core.leader import Leadership
from core.live import Current, current
from core.model import Incoming
from core.once import once_per_deploy
from core.stop import Press, tagged_message
from core.store.base import Store

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]
BOT_API_CONNECTIONS = 64  # concurrent Bot API requests per process
POOL_TIMEOUT = 10.0  # longest a write waits for a free connection in a burst
UPDATE_DEDUPE_TTL = 86400.0  # Telegram redelivers webhooks for far less than a day


async def check_token(settings: TelegramSettings) -> TokenCheck:
    """getMe with the configured token: the bot's @username and privacy mode, or StartupError."""
    if settings.token is None:
        raise StartupError("no bot token configured")
    bot = Bot(
        settings.token.get_secret_value(),
        base_url=settings.base_url,
        base_file_url=settings.base_file_url,
    )
    try:
        async with bot:
            return TokenCheck(f"@{bot.username}", bool(bot.can_read_all_group_messages))
    except InvalidToken:
        raise StartupError("telegram.token: Telegram refused the bot token") from None
    except NetworkError as err:
        raise StartupUnavailable(f"cannot reach the Bot API ({type(err).__name__})") from None


class TelegramStartError(StartupError):
    """The front-end could not start; ``str()`` is one clear line without secrets."""


class TelegramUnreachable(TelegramStartError, StartupUnavailable):
    """The Bot API did not answer at start; it may later."""


_PLACE: contextvars.ContextVar[Place | None] = contextvars.ContextVar("tg_place", default=None)


class _OrderedApplication(Application):
    """PTB's application, with each update taking its place in its chat's line on arrival.

    Updates are processed concurrently; without this, the awaits before the relay (update
    de-duplication, the mode lookup) let one chat's messages overtake each other.
    """

    arrivals: ArrivalOrder
    recorded_for: Callable[[int], asyncio.Event | None]
    """The update's recorded event, when the poller gave it one (confirmed once set)."""

    async def process_update(self, update: object) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None or not isinstance(update, Update):
            await super().process_update(update)
            return
        place = self.arrivals.enter(str(chat.id), self.recorded_for(update.update_id))
        token = _PLACE.set(place)
        try:
            await place.ready()
            await super().process_update(update)
        finally:
            place.release()
            _PLACE.reset(token)


class TelegramFrontEnd(FrontEnd):
    """Telegram, by long polling or a webhook, answering in private chats, groups and topics."""

    name = "telegram"

    def __init__(
        self, settings: TelegramSettings | Current[TelegramSettings], bridge: Bridge, store: Store
    ) -> None:
        self._current = current(settings)
        self._bridge = bridge
        self._store = store
        self._app: Application | None = None
        self._poller: Poller | None = None
        self._recorded: dict[int, asyncio.Event] = {}  # update id -> set once it is recorded
        self._admins: dict[int, tuple[float, frozenset[int]]] = {}
        # Draft ids only need to differ between the messages of one chat; start anywhere.
        counter = itertools.count(random.randint(1, 2**30))
        self._drafts = DraftPolicy(self._settings.drafts, lambda: next(counter))
        self._username = ""
        self._bot_id = 0
        self._webhook: WebhookServer | None = None
        self._lease: Leadership | None = None

    @property
    def _settings(self) -> TelegramSettings:
        """The settings in force (a reload applies from the next message)."""
        return self._current()

    # --- lifetime ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (getMe), register the commands, then poll or listen for the webhook."""
        if self._settings.token is None:
            raise TelegramStartError("telegram: no bot token configured")
        app = (
            Application.builder()
            .application_class(_OrderedApplication)
            .token(self._settings.token.get_secret_value())
            .base_url(self._settings.base_url)
            .base_file_url(self._settings.base_file_url)
            .concurrent_updates(True)
            .get_updates_connection_pool_size(2)  # see Poller.stop
            # PTB's default is one connection: every chat's writes would queue behind each other.
            .connection_pool_size(BOT_API_CONNECTIONS)
            .pool_timeout(POOL_TIMEOUT)
            .build()
        )
        assert isinstance(app, _OrderedApplication)
        app.arrivals = ArrivalOrder()
        app.recorded_for = self._recorded.get
        self._install_handlers(app, dedupe_updates=self._settings.mode == "webhook")
        try:
            await app.initialize()
        except InvalidToken:
            raise TelegramStartError("telegram.token: Telegram refused the bot token") from None
        except NetworkError as err:
            raise TelegramUnreachable(f"telegram: cannot reach the Bot API ({err})") from None
        self._username = app.bot.username
        self._bot_id = app.bot.id
        await self._register_commands(app.bot)
        assert app.updater is not None
        try:
            if self._settings.mode == "webhook":
                await self._start_webhook(app)
            else:
                # getUpdates is refused while a webhook is set; pending updates are kept.
                await app.bot.delete_webhook(drop_pending_updates=False)
        except NetworkError as err:
            await app.shutdown()
            raise TelegramUnreachable(f"telegram: cannot start receiving updates ({err})") from None
        except TelegramError as err:
            await app.shutdown()
            raise TelegramStartError(f"telegram: cannot start receiving updates ({err})") from None
        except StartupError:  # the webhook's port: the line names the setting
            await app.shutdown()
            raise
        await app.start()
        self._app = app
        if self._settings.mode != "webhook":
            await self._start_polling(app)  # it says when polling starts
        else:
            log.info("telegram: @%s receiving updates by webhook", self._username)

    async def _register_commands(self, bot: Bot) -> None:
        """The command menus (setMyCommands per scope and language), the notices' language in
        force for users of any other."""
        scoped = menus(self._bridge.commands)

        async def register() -> None:
            for menu in scoped:
                await bot.set_my_commands(
                    menu.commands, scope=menu.scope, language_code=menu.language
                )

        try:
            # Once per deploy, not once per process (several workers share one bot).
            await once_per_deploy(
                self._store,
                f"tg:commands:{self._bot_id}",
                [menu.to_json() for menu in scoped],
                register,
            )
        except TelegramError as err:
            log.warning("telegram: could not register commands: %s", err)

    async def settings_reloaded(self) -> None:
        """Re-publish the command menus: a new language or notice text changes them."""
        if self._app is not None:
            await self._register_commands(self._app.bot)

    async def _start_polling(self, app: Application) -> None:
        """Long polling by one process per bot: the others stand by on a store lease instead of
        ending each other's getUpdates (409 Conflict), and take over when it stops."""

        async def poll() -> None:
            self._poller = Poller(app.bot, self._dispatch(app), allowed_updates=ALLOWED_UPDATES)
            self._poller.start()
            log.info("telegram: @%s receiving updates by polling", self._username)

        async def stand_by() -> None:
            poller, self._poller = self._poller, None
            if poller is not None:
                await poller.stop()

        self._lease = Leadership(
            self._store, f"tg:poller:{self._bot_id}", lead=poll, follow=stand_by
        )
        await self._lease.start()
        if not self._lease.leading:
            # Also after a restart: the previous run's lease lapses within two periods.
            log.info(
                "telegram: the polling lease is held (by another process, or by this bot's "
                "previous run until it lapses); standing by"
            )

    async def _start_webhook(self, app: Application) -> None:
        """Our own listener (see bots.telegram.webhook), then tell Telegram where it is.

        Every worker behind the load balancer registers the same URL; that is idempotent.
        """
        hook = self._settings.webhook
        assert hook.url is not None and hook.secret_token is not None
        secret = hook.secret_token.get_secret_value()
        server = WebhookServer(
            listen=hook.listen,
            port=hook.port,
            path=urlparse(hook.url).path,
            secret=secret,
            handle=lambda body, recorded: self._process(app, body, recorded),
        )
        await server.start()
        try:
            await app.bot.set_webhook(
                hook.url, secret_token=secret, allowed_updates=ALLOWED_UPDATES
            )
        except BaseException:
            await server.stop()
            raise
        self._webhook = server

    async def _process(
        self, app: Application, body: dict[str, object], recorded: asyncio.Event
    ) -> None:
        """Run one webhook update through the handlers; ``recorded`` reaches the relay."""
        await self._dispatch(app)(Update.de_json(body, app.bot), recorded)

    async def stop(self) -> None:
        """Stop receiving, let handlers in progress finish, close the connection."""
        app, self._app = self._app, None
        lease, self._lease = self._lease, None
        poller = self._poller
        if lease is not None:
            await lease.stop()  # stops the poller, confirming what was recorded
        if poller is not None:
            await poller.wait_handled(within=10)
        webhook, self._webhook = self._webhook, None
        if webhook is not None:
            await webhook.stop()
            await webhook.wait_closed(within=10)
        if app is not None:
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
            await app.shutdown()

    @property
    def connected(self) -> bool:
        """True while updates are being received."""
        app = self._app
        if app is None or not app.running:
            return False
        if self._webhook is not None:
            return self._webhook.running
        if self._lease is not None and not self._lease.leading:
            return True  # standing by is healthy: it takes over when the poller stops
        return self._poller is not None and self._poller.running

    def status(self) -> list[tuple[str, bool | None]]:
        """For /healthz: receiving, or standing by for the process that polls."""
        if self._app is not None and self._lease is not None and not self._lease.leading:
            return [("telegram (standing by)", True)]
        return [(self.name, self.connected)]

    @property
    def username(self) -> str:
        """The bot's username (known after :meth:`start`)."""
        return self._username

    # --- handlers ----------------------------------------------------------------------------

    def _dispatch(self, app: Application) -> Callable[[Update, asyncio.Event], Awaitable[None]]:
        """What the poller calls per update: PTB's handlers, with the update's recorded event
        where :meth:`_on_message` finds it."""

        async def dispatch(update: Update, recorded: asyncio.Event) -> None:
            self._recorded[update.update_id] = recorded
            try:
                await app.update_processor.process_update(update, app.process_update(update))
            finally:
                self._recorded.pop(update.update_id, None)

        return dispatch

    def _install_handlers(self, app: Application, *, dedupe_updates: bool) -> None:
        messages = filters.UpdateType.MESSAGE
        if dedupe_updates:
            # Webhook redeliveries. Polling needs no claim (an update comes again only when it
            # was never recorded), and one taken before recording would lose it in a crash.
            app.add_handler(TypeHandler(Update, self._dedupe), group=-1)
        app.add_handler(MessageHandler(messages & filters.StatusUpdate.MIGRATE, self._on_migrate))
        app.add_handler(MessageHandler(messages & filters.COMMAND, self._on_command))
        app.add_handler(
            MessageHandler(
                messages & ~filters.COMMAND & ~filters.StatusUpdate.ALL, self._on_message
            )
        )
        app.add_handler(CallbackQueryHandler(self._on_stop_press))
        edits = filters.UpdateType.EDITED_MESSAGE & ~filters.COMMAND & ~filters.StatusUpdate.ALL
        app.add_handler(MessageHandler(edits, self._on_edit))
        app.add_error_handler(self._on_error)

    async def _dedupe(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Drop an update already seen by any process (webhook redeliveries, restarts)."""
        try:
            fresh = await self._store.claim(
                f"tg:update:{self._bot_id}:{update.update_id}", UPDATE_DEDUPE_TTL
            )
        except BridgeError:
            return  # the relay de-duplicates messages again by their id
        if not fresh:
            log.info("telegram: update %d seen before; skipped", update.update_id)
            raise ApplicationHandlerStop

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None or message.from_user is None:
            return
        facts, incoming = self._translate(message, message.from_user)
        decision = await self._bridge.check(incoming, facts)
        if decision.action is Action.IGNORE:
            return
        place = _PLACE.get()
        await self._bridge.act(
            decision,
            incoming,
            self._surface(message),
            is_admin=lambda: self._is_admin(message),
            recorded=place.recorded if place else self._recorded.get(update.update_id),
        )

    def _translate(self, message: Message, user: User) -> tuple[Facts, Incoming]:
        """The core's view of a message: the facts its rule needs, and what may be relayed."""
        private = is_private(message)
        # A sticker, photo or file has no text; its caption, if any, stands for it.
        text = message.text if message.text is not None else message.caption
        words = (text or "") if private else self._without_mention(text or "")
        replied = replied_author(message)
        replies_to_me = replied is not None and replied.id == self._bot_id
        quoted = None if replies_to_me else replied  # someone else's words, quoted upstream
        facts = Facts(
            private=private,
            # Other bots; an anonymous admin arrives as a bot, on the group's behalf.
            from_bot=user.is_bot and not self._anonymous(message),
            mentioned=self._mentions_me(message, text or ""),
            replies_to_bot=replies_to_me,
            has_text=bool(words.strip()),
            attachments=text is None,
        )
        incoming = Incoming(
            platform="telegram",
            channel=channel_key(message),
            author=f"tg:{user.id}",
            text=words,
            message_id=f"tg:{message.chat_id}:{message.message_id}",
            author_name=user.full_name or user.username or "",
            quote=self._quote(message) if quoted else "",
            quote_author=(quoted.full_name or quoted.username or "") if quoted else "",
            origin=origin_of(message),
        )
        return facts, incoming

    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None or message.text is None or message.from_user is None:
            return
        parsed = split_command(message.text)
        if parsed is None:
            return
        name, target, words = parsed
        if target and target.lower() != self._username.lower():
            return  # meant for another bot
        commands = self._bridge.commands
        if commands.get(name) is None and not target and not is_private(message):
            return  # a bare unknown command in a group may belong to another bot
        inv = invocation(
            message,
            bot_username=self._username,
            bot_id=self._bot_id,
            is_admin=lambda: self._is_admin(message),
        )
        await self._answer(message, await commands.run_words(name, words, inv))

    async def _on_stop_press(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A press of a reply's Stop button: the core decides; someone who may not stop it
        gets a short answer only they see, and every press is answered (the spinner stops)."""
        query = update.callback_query
        if query is None or query.data is None or tagged_message(query.data) is None:
            return
        message = query.message
        user = query.from_user

        async def admin() -> bool:
            if user.id in self._settings.admins:
                return True
            if not isinstance(message, Message) or message.chat.type == "private":
                return False
            return user.id in await self._chat_admins(message)

        pressed = await self._bridge.relay.stops.press(query.data, f"tg:{user.id}", admin)
        refusal = self._bridge.render(notices.stop_refused()) if pressed is Press.REFUSED else None
        await query.answer(refusal)

    async def _on_edit(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A user edited a message: if it is one the bot answers, the core decides what the
        edit does (never a notice)."""
        message = update.edited_message
        if message is None or message.from_user is None:
            return
        facts, incoming = self._translate(message, message.from_user)
        decision = await self._bridge.check(incoming, facts)
        if decision.action is not Action.RELAY:
            return
        surface = self._surface(message)
        await self._bridge.edit(incoming, surface, is_admin=lambda: self._is_admin(message))

    async def _on_migrate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A group became a supergroup: its settings, conversation and block list follow it.

        Telegram says so twice (in the old chat and in the new one); the second move finds
        nothing left to move.
        """
        message = update.message
        if message is None:
            return
        if message.migrate_to_chat_id is not None:
            await self._migrate(message.chat_id, message.migrate_to_chat_id)
        elif message.migrate_from_chat_id is not None:
            await self._migrate(message.migrate_from_chat_id, message.chat_id)

    async def _migrate(self, old: int, new: int) -> None:
        try:
            await self._bridge.conversations.move(f"tg:{old}", f"tg:{new}")
        except BridgeError as err:
            log.error("telegram: chat %s moved to %s but its settings did not: %s", old, new, err)
            return
        self._admins.pop(old, None)
        log.info("telegram: chat %s is now supergroup %s; its settings moved along", old, new)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log a failed update; the user never sees a traceback."""
        err = context.error
        if isinstance(err, (NetworkError, BridgeError)):
            log.warning("telegram: update failed: %s: %s", type(err).__name__, err)
        else:
            log.error("telegram: update failed", exc_info=err)

    # --- helpers -----------------------------------------------------------------------------

    async def _answer(self, message: Message, text: str) -> None:
        """Answer a command (a short flood wait is sat out, as for every notice); an empty
        answer is silence."""
        if not text:
            return
        await self._bridge.notify(self._surface(message), text)

    def _surface(self, message: Message) -> TelegramSurface:
        private = is_private(message)
        target = ChatTarget(
            chat_id=message.chat_id,
            private=private,
            thread_id=topic_of(message),
            reply_to=None if private else message.message_id,
        )
        return self._surface_at(message.get_bot(), target)

    def _surface_at(self, bot: Bot, target: ChatTarget) -> TelegramSurface:
        settings = self._settings  # a reload applies from the next message
        return TelegramSurface(
            bot,
            target,
            budget=Budget.parse(
                settings.private_budget if target.private else settings.group_budget
            ),
            # Drafts carry only partial text: nothing needs to be held back for a final draft.
            draft_budget=Budget.parse(settings.draft_budget, reserve=0),
            drafts=self._drafts,
        )

    @staticmethod
    def _quote(message: Message) -> str:
        """The part of the replied-to message the user quoted, else all of its text."""
        if message.quote:
            return message.quote.text
        replied = message.reply_to_message
        return (replied.text or replied.caption or "") if replied else ""

    async def tell_admin(self, user_id: int, text: str) -> None:
        """A private message to an admin (Telegram delivers it once they have started the bot)."""
        if self._app is None:
            return
        target = ChatTarget(chat_id=user_id, private=True)
        await self._bridge.notify(self._surface_at(self._app.bot, target), text)

    def surface_for(self, channel: str, locator: dict[str, str]) -> TelegramSurface | None:
        """A surface for a chat a journal record names (recovery after a restart)."""
        target = target_from(locator)
        if self._app is None or target is None:
            return None
        return self._surface_at(self._app.bot, target)

    def _mentions_me(self, message: Message, text: str) -> bool:
        """Mentioned by @username or by a text mention (a user without a username)."""
        if self._username and self._mention_re().search(text):
            return True
        entities = message.entities or message.caption_entities or ()
        return any(
            e.type == MessageEntity.TEXT_MENTION
            and e.user is not None
            and e.user.id == self._bot_id
            for e in entities
        )

    def _mention_re(self) -> re.Pattern[str]:
        return re.compile(rf"(?<![\w@])@{re.escape(self._username)}\b", re.IGNORECASE)

    def _without_mention(self, text: str) -> str:
        if not self._username:
            return text
        return re.sub(r"[ \t]{2,}", " ", self._mention_re().sub("", text)).strip()

    @staticmethod
    def _anonymous(message: Message) -> bool:
        """An anonymous group admin writes as the group itself."""
        return message.sender_chat is not None and message.sender_chat.id == message.chat_id

    async def _is_admin(self, message: Message) -> bool:
        user = message.from_user
        if user is not None and user.id in self._settings.admins:
            return True
        if is_private(message):
            return False
        if self._anonymous(message):
            return True
        return user is not None and user.id in await self._chat_admins(message)

    async def _chat_admins(self, message: Message) -> frozenset[int]:
        """The group's administrators, cached for ``admin_cache_ttl`` seconds."""
        now = time.monotonic()
        cached = self._admins.get(message.chat_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            members = await message.get_bot().get_chat_administrators(message.chat_id)
        except TelegramError as err:
            log.warning("telegram: cannot list admins of %s: %s", message.chat_id, err)
            return frozenset()
        admins = frozenset(m.user.id for m in members)
        self._admins[message.chat_id] = (now + self._settings.admin_cache_ttl, admins)
        return admins
