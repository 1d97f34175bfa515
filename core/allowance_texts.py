"""The allowance notices in every shipped language (kept apart so they can join the catalogue
as one block). ``{reset}`` is when the limit starts again: a local date, time and zone
(``2026-12-08 00:00 CET``), which reads the same in every language."""

from __future__ import annotations

from collections.abc import Mapping

ALLOWANCE_TEXTS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "allowance_user": "🧮 You've used all your messages for now. "
        "You can write again from {reset}.",
        "allowance_chat": "🧮 This chat has used all its messages for now. "
        "They start again from {reset}.",
        "allowance_server": "🧮 Everyone here together has used all the messages allowed for "
        "now. They start again from {reset}.",
        "allowance_plan": "🧮 {assistant} has used all the messages of the bot's plan for now. "
        "They start again from {reset}.",
    },
    "de": {
        "allowance_user": "🧮 Du hast deine Nachrichten vorerst aufgebraucht. "
        "Ab {reset} kannst du wieder schreiben.",
        "allowance_chat": "🧮 Dieser Chat hat seine Nachrichten vorerst aufgebraucht. "
        "Ab {reset} geht es wieder.",
        "allowance_server": "🧮 Alle hier zusammen haben die erlaubten Nachrichten vorerst "
        "aufgebraucht. Ab {reset} geht es wieder.",
        "allowance_plan": "🧮 {assistant}: Das Nachrichtenkontingent des Bots ist vorerst "
        "aufgebraucht. Ab {reset} geht es wieder.",
    },
    "es": {
        "allowance_user": "🧮 Has usado todos tus mensajes por ahora. "
        "Podrás volver a escribir a partir de {reset}.",
        "allowance_chat": "🧮 Este chat ha usado todos sus mensajes por ahora. "
        "Se renuevan a partir de {reset}.",
        "allowance_server": "🧮 Entre todos los de aquí se han usado los mensajes permitidos "
        "por ahora. Se renuevan a partir de {reset}.",
        "allowance_plan": "🧮 {assistant}: el plan del bot ha agotado sus mensajes por ahora. "
        "Se renuevan a partir de {reset}.",
    },
    "fr": {
        "allowance_user": "🧮 Vous avez utilisé tous vos messages pour le moment. "
        "Vous pourrez écrire à nouveau à partir de {reset}.",
        "allowance_chat": "🧮 Ce chat a utilisé tous ses messages pour le moment. "
        "Ils reviennent à partir de {reset}.",
        "allowance_server": "🧮 Tout le monde ici a utilisé ensemble les messages autorisés "
        "pour le moment. Ils reviennent à partir de {reset}.",
        "allowance_plan": "🧮 {assistant} : le forfait du bot a épuisé ses messages pour le "
        "moment. Ils reviennent à partir de {reset}.",
    },
    "ru": {
        "allowance_user": "🧮 Вы израсходовали все свои сообщения на этот период. "
        "Лимит обновится {reset}.",
        "allowance_chat": "🧮 В этом чате израсходованы все сообщения на этот период. "
        "Лимит обновится {reset}.",
        "allowance_server": "🧮 Все участники здесь вместе израсходовали доступные сообщения "
        "на этот период. Лимит обновится {reset}.",
        "allowance_plan": "🧮 {assistant}: сообщения по тарифу бота на этот период "
        "закончились. Лимит обновится {reset}.",
    },
    "pt": {
        "allowance_user": "🧮 Você usou todas as suas mensagens por enquanto. "
        "Poderá escrever de novo a partir de {reset}.",
        "allowance_chat": "🧮 Este chat usou todas as mensagens por enquanto. "
        "Elas voltam a partir de {reset}.",
        "allowance_server": "🧮 Todos aqui, juntos, usaram as mensagens permitidas por "
        "enquanto. Elas voltam a partir de {reset}.",
        "allowance_plan": "🧮 {assistant}: o plano do bot esgotou as mensagens por enquanto. "
        "Elas voltam a partir de {reset}.",
    },
    "uk": {
        "allowance_user": "🧮 Ви використали всі свої повідомлення на цей період. "
        "Ліміт оновиться {reset}.",
        "allowance_chat": "🧮 У цьому чаті використано всі повідомлення на цей період. "
        "Ліміт оновиться {reset}.",
        "allowance_server": "🧮 Усі учасники тут разом використали доступні повідомлення "
        "на цей період. Ліміт оновиться {reset}.",
        "allowance_plan": "🧮 {assistant}: повідомлення за тарифом бота на цей період "
        "закінчилися. Ліміт оновиться {reset}.",
    },
}
