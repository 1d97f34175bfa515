"""The notices' templates in every shipped language, by notice name: English, the source every
other language follows, then the rest.

``{assistant}`` stands at the start of a sentence or before a colon, never where a language
would decline it or make a word agree with it; ``{wait}`` and ``{window}`` are durations written
by :func:`duration` (in Russian and Ukrainian in the accusative, as after «через» / «за»).
"""

from __future__ import annotations

from collections.abc import Mapping

EN: dict[str, str] = {
    # reply problems (what the renderer appends or posts)
    "quota": "⏳ {assistant} has reached its message limit for now. "
    "Please try again in about {wait}.",
    "quota_later": "⏳ {assistant} has reached its message limit for now. Please try again later.",
    "throttled": "⏳ {assistant} is busy right now. Please try again in about {wait}.",
    "throttled_later": "⏳ {assistant} is busy right now. Please try again in a moment.",
    "unavailable": "⚠️ {assistant} is not reachable right now. Please try again in a little while.",
    "interrupted": "⚠️ The reply was cut off before it finished.",
    "reply_lost": "⚠️ The reply was interrupted by a restart. You may ask again.",
    "stopped": "⏹️ Stopped.",
    "stop_refused": "Only the person who asked, or an admin, can stop this reply.",
    "stop_none": "There is no reply of yours to stop here.",
    "stop_button": "Stop",
    "cmd_stop": "Stop your reply that is being written here",
    "unauthorized": "⚠️ {assistant} is not set up correctly (its access was refused). "
    "Please let the bot's admin know.",
    "rejected": "⚠️ {assistant} could not take that message.",
    "rejected_because": "⚠️ {assistant} could not take that message ({reason}).",
    "failed": "⚠️ Something went wrong on our side. Please try again.",
    "empty_reply": "🤔 {assistant} sent an empty reply. Try rephrasing your message.",
    "store_down": "⚠️ I can't reach my memory right now, so I didn't pass your message on. "
    "Please try again shortly.",
    "conversation_replaced": "♻️ The old conversation no longer exists upstream, so this is a new one.",
    "conversation_gone": "⚠️ The conversation this chat is bound to no longer exists upstream. "
    "An admin must bind it again (/bind).",
    "assistant_refused": "⚠️ {assistant} refuses to start a conversation with its configured "
    "character or bot. An admin must fix the bridge's settings.",
    "assistant_refused_admin": "⚠️ {assistant} refuses to start a conversation in {channel}: "
    "{reason}. Please fix the bridge's settings.",
    "store_full": "⚠️ My memory is full right now, so I can't store anything and didn't pass "
    "your message on. Please try again later.",
    "shutting_down": "⚠️ The bridge is restarting; this reply was cut short. "
    "Please ask again in a minute.",
    # admission
    "rate_limited": "🐢 You're sending messages quickly. Please wait a bit (limit per {window}).",
    "busy": "⏳ I'm still answering earlier messages here. Please send yours again in a moment.",
    "empty": "I can only read text. Send me a message with some words in it.",
    "attachment_only": "I can only read text for now. Add a caption or type your message.",
    "too_long": "✂️ That message is {length} characters long; the limit is {limit}. "
    "Please shorten it or split it into parts.",
    "no_backend": "This chat isn't connected to an assistant yet. "
    "An admin can connect it with /bind.",
    "access_denied": "🔒 Sorry, this bot isn't open to you.",
    # commands
    "help": "👋 I pass your messages on to an AI assistant and stream its reply here.\n{how}\n\n"
    "{commands}\n\nBackends: {backends}",
    "help_private": "Just send me a message and I'll answer.",
    "help_group": "Mention me ({bot}) or reply to one of my messages and I'll answer.",
    "help_commands": "Commands:",
    "help_admin_commands": "For admins:",
    "cmd_help": "What this bot is and how to talk to it",
    "cmd_status": "What this chat is connected to",
    "cmd_reset": "Start a fresh conversation",
    "cmd_bind": "Connect this chat to a backend",
    "cmd_unbind": "Disconnect this chat",
    "cmd_mode": "When to answer here (mentions, all, off)",
    "cmd_scope": "One conversation for everyone here, or one per user",
    "cmd_block": "Ignore a user's messages here",
    "cmd_unblock": "Answer a blocked user again",
    "cmd_bridge": "Connect this channel to an AI assistant",
    "arg_backend": "Which configured backend",
    "arg_remote": "Existing remote conversation ids (optional)",
    "arg_mode": "mentions: when mentioned or replied to; all: every message; off: never",
    "arg_scope": "shared: one conversation for everyone; user: one per person",
    "arg_user": "The user",
    "not_admin": "🔒 Sorry, only admins of this chat can do that.",
    "usage": "Usage: {command} {args}",
    "unknown_command": "I don't know {command}. Try /help.",
    "unknown_backend": "There is no backend called '{name}'. Choose one of: {known}.",
    "bound": "✅ This chat now talks to '{backend}' ({remote}).",
    "no_remote": "no conversation yet",
    "unbound": "✅ Unbound. This chat will use the default backend.",
    "not_bound": "This chat wasn't bound.",
    "reset_done": "🧹 Started a fresh conversation with '{backend}'.",
    "reset_mine": "🧹 Started a fresh conversation of your own with '{backend}'.",
    "mode_set": "✅ Mode set to '{mode}'. {what}",
    "mode_mentions": "I'll answer when mentioned or replied to.",
    "mode_all": "I'll answer every message here.",
    "mode_off": "I'll stay quiet here (commands still work).",
    "scope_set": "✅ Scope set to '{scope}'. {what}",
    "scope_shared": "Everyone here shares one conversation.",
    "scope_user": "Each person here has a conversation of their own.",
    "status": "📡 {where}.\nMode: {mode}.\nScope: {scope}.{paused}",
    "status_private": "📡 {where}.{paused}",
    "status_bound": "Bound to '{backend}' ({remote})",
    "status_unbound": "Not bound yet; the first message starts a conversation with '{backend}'",
    "status_nothing": "Not bound, and there is no default backend",
    "status_paused": "\n{assistant} is paused for about {wait} (message limit).",
    "blocked_user": "🚫 Messages from {user} are now ignored here.",
    "already_blocked": "Messages from {user} were already ignored here.",
    "unblocked_user": "✅ Messages from {user} are welcome here again.",
    "not_blocked": "Messages from {user} weren't being ignored here.",
    # allowances
    "allowance_user": "🧮 You've used all your messages for now. You can write again from {reset}.",
    "allowance_chat": "🧮 This chat has used all its messages for now. They start again from {reset}.",
    "allowance_server": "🧮 Everyone here together has used all the messages allowed for now. They start again from {reset}.",
    "allowance_plan": "🧮 {assistant} has used all the messages of the bot's plan for now. They start again from {reset}.",
    "cmd_usage": "Your messages used and left in this window",
    "cmd_grant": "Give a person extra messages in this window",
    "arg_amount": "How many messages (a negative number takes them back)",
    "usage_user": "🧮 You",
    "usage_chat": "This chat",
    "usage_server": "Everyone here together",
    "usage_plan": "The plan with '{key}'",
    "usage_line": "{what}: {used} of {limit} messages, until {reset}",
    "usage_line_free": "{what}: {used} messages (no limit), counted until {reset}",
    "usage_runs_out": "At this rate the plan with '{backend}' runs out on {date}.",
    "usage_lasts": "At this rate the plan with '{backend}' lasts until it starts again.",
    "usage_top": "Most messages in this window: {top}",
    "usage_off": "🧮 This bot sets no message limits.",
    "granted": "✅ {user} now has {extra} extra messages in this window ({used} used so far).",
    "plan_state": "The plan with '{backend}' has used {used} of {limit} messages. It starts again from {reset}. {forecast}",
    "allowance_alert": "🧮 Plan alert ({share}): {state}",
}

DE: dict[str, str] = {
    "quota": "⏳ {assistant} hat das Nachrichtenlimit vorerst erreicht. "
    "Bitte versuch es in etwa {wait} noch einmal.",
    "quota_later": "⏳ {assistant} hat das Nachrichtenlimit vorerst erreicht. "
    "Bitte versuch es später noch einmal.",
    "throttled": "⏳ {assistant} hat gerade viel zu tun. "
    "Bitte versuch es in etwa {wait} noch einmal.",
    "throttled_later": "⏳ {assistant} hat gerade viel zu tun. "
    "Bitte versuch es gleich noch einmal.",
    "unavailable": "⚠️ {assistant} ist gerade nicht erreichbar. "
    "Bitte versuch es in Kürze noch einmal.",
    "interrupted": "⚠️ Die Antwort wurde abgebrochen, bevor sie fertig war.",
    "reply_lost": "⚠️ Die Antwort wurde durch einen Neustart unterbrochen. Frag gern noch einmal.",
    "stopped": "⏹️ Angehalten.",
    "stop_refused": "Nur wer gefragt hat oder ein Admin kann diese Antwort anhalten.",
    "stop_none": "Hier wird gerade keine Antwort für dich geschrieben.",
    "stop_button": "Stopp",
    "cmd_stop": "Deine Antwort anhalten, die hier gerade geschrieben wird",
    "unauthorized": "⚠️ {assistant} ist nicht richtig eingerichtet (der Zugang wurde "
    "verweigert). Bitte gib dem Admin des Bots Bescheid.",
    "rejected": "⚠️ {assistant} konnte diese Nachricht nicht annehmen.",
    "rejected_because": "⚠️ {assistant} konnte diese Nachricht nicht annehmen ({reason}).",
    "failed": "⚠️ Bei uns ist etwas schiefgelaufen. Bitte versuch es noch einmal.",
    "empty_reply": "🤔 {assistant} hat eine leere Antwort geschickt. "
    "Versuch es mit anderen Worten.",
    "store_down": "⚠️ Ich komme gerade nicht an meinen Speicher und habe deine Nachricht deshalb "
    "nicht weitergegeben. Bitte versuch es gleich noch einmal.",
    "conversation_replaced": "♻️ Die alte Unterhaltung gibt es beim Anbieter nicht mehr, daher ist dies eine neue.",
    "conversation_gone": "⚠️ Die Unterhaltung, mit der dieser Chat verbunden ist, gibt es beim "
    "Anbieter nicht mehr. Ein Admin muss ihn neu verbinden (/bind).",
    "assistant_refused": "⚠️ {assistant} lehnt es ab, eine Unterhaltung mit der eingestellten "
    "Figur oder dem eingestellten Bot zu beginnen. Ein Admin muss die Einstellungen der Bridge "
    "korrigieren.",
    "assistant_refused_admin": "⚠️ {assistant} lehnt eine neue Unterhaltung in {channel} ab: "
    "{reason}. Bitte korrigiere die Einstellungen der Bridge.",
    "store_full": "⚠️ Mein Speicher ist gerade voll, daher kann ich nichts speichern und habe "
    "deine Nachricht nicht weitergegeben. Bitte versuche es später noch einmal.",
    "shutting_down": "⚠️ Der Bot startet gerade neu; diese Antwort wurde abgebrochen. "
    "Frag bitte in einer Minute noch einmal.",
    "rate_limited": "🐢 Du schreibst gerade sehr schnell. Bitte warte kurz (Limit pro {window}).",
    "busy": "⏳ Ich beantworte hier noch frühere Nachrichten. Schick deine bitte gleich noch einmal.",
    "empty": "Ich kann nur Text lesen. Schick mir eine Nachricht mit ein paar Worten.",
    "attachment_only": "Ich kann vorerst nur Text lesen. "
    "Füge eine Bildunterschrift hinzu oder tippe deine Nachricht.",
    "too_long": "✂️ Diese Nachricht hat {length} Zeichen, erlaubt sind höchstens {limit}. "
    "Bitte kürze sie oder teile sie auf.",
    "no_backend": "Dieser Chat ist noch mit keinem Assistenten verbunden. "
    "Ein Admin kann ihn mit /bind verbinden.",
    "access_denied": "🔒 Dieser Bot steht dir leider nicht zur Verfügung.",
    "help": "👋 Ich leite deine Nachrichten an einen KI-Assistenten weiter und zeige seine "
    "Antwort hier live an.\n{how}\n\n{commands}\n\nBackends: {backends}",
    "help_private": "Schreib mir einfach, und ich antworte.",
    "help_group": "Erwähne mich ({bot}) oder antworte auf eine meiner Nachrichten, "
    "dann antworte ich.",
    "help_commands": "Befehle:",
    "help_admin_commands": "Für Admins:",
    "cmd_help": "Was dieser Bot kann und wie du mit ihm sprichst",
    "cmd_status": "Womit dieser Chat verbunden ist",
    "cmd_reset": "Ein neues Gespräch beginnen",
    "cmd_bind": "Diesen Chat mit einem Backend verbinden",
    "cmd_unbind": "Die Verbindung dieses Chats trennen",
    "cmd_mode": "Wann hier geantwortet wird (mentions, all, off)",
    "cmd_scope": "Ein Gespräch für alle hier oder eines pro Person",
    "cmd_block": "Nachrichten einer Person hier ignorieren",
    "cmd_unblock": "Einer blockierten Person wieder antworten",
    "cmd_bridge": "Diesen Kanal mit einem KI-Assistenten verbinden",
    "arg_backend": "Welches eingerichtete Backend",
    "arg_remote": "IDs eines bestehenden Gesprächs beim Backend (optional)",
    "arg_mode": "mentions: wenn man mich erwähnt oder mir antwortet; all: jede Nachricht; off: nie",
    "arg_scope": "shared: ein Gespräch für alle; user: eines pro Person",
    "arg_user": "Die Person",
    "not_admin": "🔒 Das dürfen leider nur die Admins dieses Chats.",
    "usage": "Verwendung: {command} {args}",
    "unknown_command": "{command} kenne ich nicht. Probier es mit /help.",
    "unknown_backend": "Es gibt kein Backend namens „{name}“. Wähle eines davon: {known}.",
    "bound": "✅ Dieser Chat spricht jetzt mit „{backend}“ ({remote}).",
    "no_remote": "noch kein Gespräch",
    "unbound": "✅ Verbindung getrennt. Dieser Chat nutzt jetzt das Standard-Backend.",
    "not_bound": "Dieser Chat war nicht verbunden.",
    "reset_done": "🧹 Neues Gespräch mit „{backend}“ begonnen.",
    "reset_mine": "🧹 Dein eigenes Gespräch mit „{backend}“ beginnt von vorn.",
    "mode_set": "✅ Modus auf „{mode}“ gesetzt. {what}",
    "mode_mentions": "Ich antworte, wenn mich jemand erwähnt oder auf mich antwortet.",
    "mode_all": "Ich antworte hier auf jede Nachricht.",
    "mode_off": "Ich bleibe hier still (Befehle funktionieren weiter).",
    "scope_set": "✅ Bereich auf „{scope}“ gesetzt. {what}",
    "scope_shared": "Alle hier teilen sich ein Gespräch.",
    "scope_user": "Jede Person hier hat ihr eigenes Gespräch.",
    "status": "📡 {where}.\nModus: {mode}.\nBereich: {scope}.{paused}",
    "status_private": "📡 {where}.{paused}",
    "status_bound": "Verbunden mit „{backend}“ ({remote})",
    "status_unbound": "Noch nicht verbunden; die erste Nachricht beginnt ein Gespräch "
    "mit „{backend}“",
    "status_nothing": "Nicht verbunden, und es gibt kein Standard-Backend",
    "status_paused": "\n{assistant} pausiert noch etwa {wait} (Nachrichtenlimit).",
    "blocked_user": "🚫 Nachrichten von {user} werden hier ab jetzt ignoriert.",
    "already_blocked": "Nachrichten von {user} wurden hier schon ignoriert.",
    "unblocked_user": "✅ Nachrichten von {user} werden hier wieder beantwortet.",
    "not_blocked": "Nachrichten von {user} wurden hier gar nicht ignoriert.",
    # allowances
    "allowance_user": "🧮 Du hast deine Nachrichten vorerst aufgebraucht. Ab {reset} kannst du wieder schreiben.",
    "allowance_chat": "🧮 Dieser Chat hat seine Nachrichten vorerst aufgebraucht. Ab {reset} geht es wieder.",
    "allowance_server": "🧮 Alle hier zusammen haben die erlaubten Nachrichten vorerst aufgebraucht. Ab {reset} geht es wieder.",
    "allowance_plan": "🧮 {assistant}: Das Nachrichtenkontingent des Bots ist vorerst aufgebraucht. Ab {reset} geht es wieder.",
    "cmd_usage": "Deine verbrauchten und übrigen Nachrichten in diesem Zeitraum",
    "cmd_grant": "Einer Person zusätzliche Nachrichten für diesen Zeitraum geben",
    "arg_amount": "Wie viele Nachrichten (eine negative Zahl nimmt sie zurück)",
    "usage_user": "🧮 Du",
    "usage_chat": "Dieser Chat",
    "usage_server": "Alle hier zusammen",
    "usage_plan": "Das Kontingent bei '{key}'",
    "usage_line": "{what}: {used} von {limit} Nachrichten, bis {reset}",
    "usage_line_free": "{what}: {used} Nachrichten (ohne Limit), gezählt bis {reset}",
    "usage_runs_out": "Bei diesem Tempo ist das Kontingent bei '{backend}' am {date} aufgebraucht.",
    "usage_lasts": "Bei diesem Tempo reicht das Kontingent bei '{backend}', bis es neu beginnt.",
    "usage_top": "Die meisten Nachrichten in diesem Zeitraum: {top}",
    "usage_off": "🧮 Dieser Bot setzt keine Nachrichtenlimits.",
    "granted": "✅ {user} hat jetzt {extra} zusätzliche Nachrichten in diesem Zeitraum ({used} bisher verbraucht).",
    "plan_state": "Das Kontingent bei '{backend}' hat {used} von {limit} Nachrichten verbraucht. Es beginnt neu ab {reset}. {forecast}",
    "allowance_alert": "🧮 Kontingent-Hinweis ({share}): {state}",
}

ES: dict[str, str] = {
    "quota": "⏳ {assistant} ha alcanzado su límite de mensajes por ahora. "
    "Inténtalo de nuevo en aproximadamente {wait}.",
    "quota_later": "⏳ {assistant} ha alcanzado su límite de mensajes por ahora. "
    "Inténtalo de nuevo más tarde.",
    "throttled": "⏳ {assistant} tiene demasiadas peticiones ahora mismo. "
    "Inténtalo de nuevo en aproximadamente {wait}.",
    "throttled_later": "⏳ {assistant} tiene demasiadas peticiones ahora mismo. "
    "Inténtalo de nuevo en un momento.",
    "unavailable": "⚠️ {assistant} no responde en este momento. "
    "Inténtalo de nuevo dentro de un rato.",
    "interrupted": "⚠️ La respuesta se cortó antes de terminar.",
    "reply_lost": "⚠️ La respuesta se interrumpió por un reinicio. Puedes volver a preguntar.",
    "stopped": "⏹️ Detenida.",
    "stop_refused": "Solo quien preguntó, o un administrador, puede detener esta respuesta.",
    "stop_none": "Aquí no se está escribiendo ninguna respuesta tuya.",
    "stop_button": "Detener",
    "cmd_stop": "Detener la respuesta tuya que se está escribiendo aquí",
    "unauthorized": "⚠️ {assistant} no tiene acceso: la configuración no es correcta. "
    "Avisa al administrador del bot, por favor.",
    "rejected": "⚠️ {assistant} no pudo aceptar ese mensaje.",
    "rejected_because": "⚠️ {assistant} no pudo aceptar ese mensaje ({reason}).",
    "failed": "⚠️ Algo ha fallado por nuestra parte. Inténtalo de nuevo.",
    "empty_reply": "🤔 {assistant} envió una respuesta vacía. Prueba a reformular tu mensaje.",
    "store_down": "⚠️ Ahora mismo no puedo acceder a mi memoria, así que no he enviado tu "
    "mensaje. Inténtalo de nuevo en breve.",
    "conversation_replaced": "♻️ La conversación anterior ya no existe en el servicio, así que esta es una nueva.",
    "conversation_gone": "⚠️ La conversación a la que está vinculado este chat ya no existe en el "
    "servicio. Un administrador debe vincularlo de nuevo (/bind).",
    "assistant_refused": "⚠️ {assistant} se niega a iniciar una conversación con el personaje o "
    "bot configurado. Un administrador debe corregir la configuración.",
    "assistant_refused_admin": "⚠️ {assistant} se niega a iniciar una conversación en {channel}: "
    "{reason}. Corrige la configuración del bot, por favor.",
    "store_full": "⚠️ Mi memoria está llena ahora mismo, así que no puedo guardar nada y no he "
    "enviado tu mensaje. Inténtalo de nuevo más tarde.",
    "shutting_down": "⚠️ El bot se está reiniciando y esta respuesta quedó a medias. "
    "Vuelve a preguntar dentro de un minuto.",
    "rate_limited": "🐢 Estás enviando mensajes muy rápido. "
    "Espera un poco (hay un límite cada {window}).",
    "busy": "⏳ Todavía estoy respondiendo mensajes anteriores aquí. "
    "Vuelve a enviar el tuyo en un momento.",
    "empty": "Solo puedo leer texto. Envíame un mensaje con alguna palabra.",
    "attachment_only": "Por ahora solo puedo leer texto. "
    "Añade un pie de foto o escribe tu mensaje.",
    "too_long": "✂️ Ese mensaje tiene {length} caracteres y el límite es {limit}. "
    "Acórtalo o divídelo en partes.",
    "no_backend": "Este chat aún no está conectado a ningún asistente. "
    "Un administrador puede conectarlo con /bind.",
    "access_denied": "🔒 Lo siento, este bot no está disponible para ti.",
    "help": "👋 Paso tus mensajes a un asistente de IA y te muestro su respuesta aquí en "
    "directo.\n{how}\n\n{commands}\n\nBackends: {backends}",
    "help_private": "Escríbeme y te responderé.",
    "help_group": "Mencióname ({bot}) o responde a uno de mis mensajes y te contestaré.",
    "help_commands": "Comandos:",
    "help_admin_commands": "Para administradores:",
    "cmd_help": "Qué es este bot y cómo hablar con él",
    "cmd_status": "A qué está conectado este chat",
    "cmd_reset": "Empezar una conversación nueva",
    "cmd_bind": "Conectar este chat a un backend",
    "cmd_unbind": "Desconectar este chat",
    "cmd_mode": "Cuándo responder aquí (mentions, all, off)",
    "cmd_scope": "Una conversación para todos aquí o una por persona",
    "cmd_block": "Ignorar aquí los mensajes de alguien",
    "cmd_unblock": "Volver a responder a alguien bloqueado",
    "cmd_bridge": "Conectar este canal a un asistente de IA",
    "arg_backend": "Qué backend configurado",
    "arg_remote": "ID de una conversación existente en el backend (opcional)",
    "arg_mode": "mentions: cuando me mencionan o me responden; all: cada mensaje; off: nunca",
    "arg_scope": "shared: una conversación para todos; user: una por persona",
    "arg_user": "La persona",
    "not_admin": "🔒 Lo siento, solo los administradores de este chat pueden hacer eso.",
    "usage": "Uso: {command} {args}",
    "unknown_command": "No conozco {command}. Prueba con /help.",
    "unknown_backend": "No hay ningún backend llamado «{name}». Elige uno de estos: {known}.",
    "bound": "✅ Este chat ahora habla con «{backend}» ({remote}).",
    "no_remote": "aún sin conversación",
    "unbound": "✅ Desconectado. Este chat usará el backend predeterminado.",
    "not_bound": "Este chat no estaba conectado.",
    "reset_done": "🧹 Empezamos una conversación nueva con «{backend}».",
    "reset_mine": "🧹 Tu conversación con «{backend}» empieza de cero.",
    "mode_set": "✅ Modo cambiado a «{mode}». {what}",
    "mode_mentions": "Responderé cuando me mencionen o respondan a mis mensajes.",
    "mode_all": "Responderé a todos los mensajes de aquí.",
    "mode_off": "No diré nada aquí (los comandos siguen funcionando).",
    "scope_set": "✅ Alcance cambiado a «{scope}». {what}",
    "scope_shared": "Todos aquí comparten una misma conversación.",
    "scope_user": "Cada persona aquí tiene su propia conversación.",
    "status": "📡 {where}.\nModo: {mode}.\nAlcance: {scope}.{paused}",
    "status_private": "📡 {where}.{paused}",
    "status_bound": "Conectado a «{backend}» ({remote})",
    "status_unbound": "Aún sin conectar; el primer mensaje iniciará una conversación "
    "con «{backend}»",
    "status_nothing": "Sin conectar, y no hay backend predeterminado",
    "status_paused": "\n{assistant} hace una pausa de aproximadamente {wait} (límite de mensajes).",
    "blocked_user": "🚫 A partir de ahora, los mensajes de {user} se ignoran aquí.",
    "already_blocked": "Los mensajes de {user} ya se ignoraban aquí.",
    "unblocked_user": "✅ Los mensajes de {user} vuelven a recibir respuesta aquí.",
    "not_blocked": "Los mensajes de {user} no se estaban ignorando aquí.",
    # allowances
    "allowance_user": "🧮 Has usado todos tus mensajes por ahora. Podrás volver a escribir a partir de {reset}.",
    "allowance_chat": "🧮 Este chat ha usado todos sus mensajes por ahora. Se renuevan a partir de {reset}.",
    "allowance_server": "🧮 Entre todos los de aquí se han usado los mensajes permitidos por ahora. Se renuevan a partir de {reset}.",
    "allowance_plan": "🧮 {assistant}: el plan del bot ha agotado sus mensajes por ahora. Se renuevan a partir de {reset}.",
    "cmd_usage": "Tus mensajes usados y restantes en este periodo",
    "cmd_grant": "Dar a una persona mensajes extra en este periodo",
    "arg_amount": "Cuántos mensajes (un número negativo los retira)",
    "usage_user": "🧮 Tú",
    "usage_chat": "Este chat",
    "usage_server": "Todos los de aquí juntos",
    "usage_plan": "El plan con '{key}'",
    "usage_line": "{what}: {used} de {limit} mensajes, hasta {reset}",
    "usage_line_free": "{what}: {used} mensajes (sin límite), contados hasta {reset}",
    "usage_runs_out": "A este ritmo el plan con '{backend}' se agota el {date}.",
    "usage_lasts": "A este ritmo el plan con '{backend}' alcanza hasta que se renueve.",
    "usage_top": "Más mensajes en este periodo: {top}",
    "usage_off": "🧮 Este bot no fija límites de mensajes.",
    "granted": "✅ {user} tiene ahora {extra} mensajes extra en este periodo ({used} usados hasta ahora).",
    "plan_state": "El plan con '{backend}' ha usado {used} de {limit} mensajes. Se renueva a partir de {reset}. {forecast}",
    "allowance_alert": "🧮 Aviso del plan ({share}): {state}",
}

FR: dict[str, str] = {
    "quota": "⏳ {assistant} a atteint sa limite de messages pour le moment. "
    "Réessayez dans environ {wait}.",
    "quota_later": "⏳ {assistant} a atteint sa limite de messages pour le moment. "
    "Réessayez plus tard.",
    "throttled": "⏳ {assistant} reçoit trop de demandes en ce moment. "
    "Réessayez dans environ {wait}.",
    "throttled_later": "⏳ {assistant} reçoit trop de demandes en ce moment. "
    "Réessayez dans un instant.",
    "unavailable": "⚠️ {assistant} ne répond pas pour le moment. Réessayez d'ici peu.",
    "interrupted": "⚠️ La réponse a été interrompue avant la fin.",
    "reply_lost": "⚠️ La réponse a été interrompue par un redémarrage. "
    "Vous pouvez reposer votre question.",
    "stopped": "⏹️ Arrêtée.",
    "stop_refused": "Seule la personne qui a demandé, ou un administrateur, peut arrêter cette réponse.",
    "stop_none": "Aucune réponse pour vous n'est en cours ici.",
    "stop_button": "Arrêter",
    "cmd_stop": "Arrêter la réponse en cours pour vous ici",
    "unauthorized": "⚠️ {assistant} n'a pas pu se connecter : l'accès a été refusé. "
    "Merci de prévenir l'administrateur du bot.",
    "rejected": "⚠️ {assistant} n'a pas pu accepter ce message.",
    "rejected_because": "⚠️ {assistant} n'a pas pu accepter ce message ({reason}).",
    "failed": "⚠️ Un problème est survenu de notre côté. Réessayez.",
    "empty_reply": "🤔 {assistant} a envoyé une réponse vide. Essayez de reformuler votre message.",
    "store_down": "⚠️ Je n'arrive pas à accéder à ma mémoire pour le moment, votre message n'a "
    "donc pas été transmis. Réessayez dans un instant.",
    "conversation_replaced": "♻️ L'ancienne conversation n'existe plus chez le fournisseur, en voici donc une nouvelle.",
    "conversation_gone": "⚠️ La conversation à laquelle ce chat est lié n'existe plus chez le "
    "fournisseur. Un administrateur doit le lier à nouveau (/bind).",
    "assistant_refused": "⚠️ {assistant} refuse de démarrer une conversation avec le personnage "
    "ou le bot configuré. Un administrateur doit corriger la configuration.",
    "assistant_refused_admin": "⚠️ {assistant} refuse de démarrer une conversation dans "
    "{channel} : {reason}. Merci de corriger la configuration du bot.",
    "store_full": "⚠️ Ma mémoire est pleine pour le moment : je ne peux rien enregistrer et votre "
    "message n'a pas été transmis. Réessayez plus tard.",
    "shutting_down": "⚠️ Le bot redémarre ; cette réponse a été interrompue. "
    "Reposez votre question dans une minute.",
    "rate_limited": "🐢 Vous envoyez des messages très vite. "
    "Patientez un peu (limite par tranche de {window}).",
    "busy": "⏳ Je réponds encore à des messages précédents ici. "
    "Renvoyez le vôtre dans un instant.",
    "empty": "Je ne lis que du texte. Envoyez-moi un message avec quelques mots.",
    "attachment_only": "Pour l'instant, je ne lis que du texte. "
    "Ajoutez une légende ou tapez votre message.",
    "too_long": "✂️ Ce message fait {length} caractères, la limite est de {limit}. "
    "Raccourcissez-le ou découpez-le en plusieurs parties.",
    "no_backend": "Cette discussion n'est encore reliée à aucun assistant. "
    "Un administrateur peut la relier avec /bind.",
    "access_denied": "🔒 Désolé, ce bot ne vous est pas ouvert.",
    "help": "👋 Je transmets vos messages à un assistant IA et j'affiche sa réponse ici au fur "
    "et à mesure.\n{how}\n\n{commands}\n\nBackends : {backends}",
    "help_private": "Envoyez-moi simplement un message et je vous répondrai.",
    "help_group": "Mentionnez-moi ({bot}) ou répondez à l'un de mes messages et je vous répondrai.",
    "help_commands": "Commandes :",
    "help_admin_commands": "Pour les administrateurs :",
    "cmd_help": "Ce que fait ce bot et comment lui parler",
    "cmd_status": "À quoi cette discussion est reliée",
    "cmd_reset": "Commencer une nouvelle conversation",
    "cmd_bind": "Relier cette discussion à un backend",
    "cmd_unbind": "Délier cette discussion",
    "cmd_mode": "Quand répondre ici (mentions, all, off)",
    "cmd_scope": "Une conversation pour tout le monde ici, ou une par personne",
    "cmd_block": "Ignorer ici les messages d'une personne",
    "cmd_unblock": "Répondre de nouveau à une personne bloquée",
    "cmd_bridge": "Relier ce salon à un assistant IA",
    "arg_backend": "Quel backend configuré",
    "arg_remote": "Identifiants d'une conversation existante chez le backend (facultatif)",
    "arg_mode": "mentions : quand on me mentionne ou me répond ; all : chaque message ; off : jamais",
    "arg_scope": "shared : une conversation pour tous ; user : une par personne",
    "arg_user": "La personne",
    "not_admin": "🔒 Désolé, seuls les administrateurs de cette discussion peuvent faire ça.",
    "usage": "Utilisation : {command} {args}",
    "unknown_command": "Je ne connais pas {command}. Essayez /help.",
    "unknown_backend": "Aucun backend ne s'appelle « {name} ». Choisissez parmi : {known}.",
    "bound": "✅ Cette discussion parle désormais à « {backend} » ({remote}).",
    "no_remote": "pas encore de conversation",
    "unbound": "✅ Lien supprimé. Cette discussion utilisera le backend par défaut.",
    "not_bound": "Cette discussion n'était reliée à rien.",
    "reset_done": "🧹 Nouvelle conversation commencée avec « {backend} ».",
    "reset_mine": "🧹 Votre conversation avec « {backend} » repart de zéro.",
    "mode_set": "✅ Mode réglé sur « {mode} ». {what}",
    "mode_mentions": "Je répondrai quand on me mentionne ou qu'on répond à mes messages.",
    "mode_all": "Je répondrai à chaque message ici.",
    "mode_off": "Je ne dirai plus rien ici (les commandes fonctionnent toujours).",
    "scope_set": "✅ Portée réglée sur « {scope} ». {what}",
    "scope_shared": "Tout le monde ici partage la même conversation.",
    "scope_user": "Chaque personne ici a sa propre conversation.",
    "status": "📡 {where}.\nMode : {mode}.\nPortée : {scope}.{paused}",
    "status_private": "📡 {where}.{paused}",
    "status_bound": "Reliée à « {backend} » ({remote})",
    "status_unbound": "Pas encore reliée ; le premier message lancera une conversation "
    "avec « {backend} »",
    "status_nothing": "Reliée à rien, et il n'y a pas de backend par défaut",
    "status_paused": "\n{assistant} est en pause pour environ {wait} (limite de messages).",
    "blocked_user": "🚫 Les messages de {user} sont désormais ignorés ici.",
    "already_blocked": "Les messages de {user} étaient déjà ignorés ici.",
    "unblocked_user": "✅ Les messages de {user} reçoivent de nouveau une réponse ici.",
    "not_blocked": "Les messages de {user} n'étaient pas ignorés ici.",
    # allowances
    "allowance_user": "🧮 Vous avez utilisé tous vos messages pour le moment. Vous pourrez écrire à nouveau à partir de {reset}.",
    "allowance_chat": "🧮 Ce chat a utilisé tous ses messages pour le moment. Ils reviennent à partir de {reset}.",
    "allowance_server": "🧮 Tout le monde ici a utilisé ensemble les messages autorisés pour le moment. Ils reviennent à partir de {reset}.",
    "allowance_plan": "🧮 {assistant} : le forfait du bot a épuisé ses messages pour le moment. Ils reviennent à partir de {reset}.",
    "cmd_usage": "Vos messages utilisés et restants sur cette période",
    "cmd_grant": "Donner à une personne des messages en plus sur cette période",
    "arg_amount": "Combien de messages (un nombre négatif les reprend)",
    "usage_user": "🧮 Vous",
    "usage_chat": "Ce chat",
    "usage_server": "Tout le monde ici ensemble",
    "usage_plan": "Le forfait avec '{key}'",
    "usage_line": "{what} : {used} sur {limit} messages, jusqu'au {reset}",
    "usage_line_free": "{what} : {used} messages (sans limite), comptés jusqu'au {reset}",
    "usage_runs_out": "À ce rythme, le forfait avec '{backend}' sera épuisé le {date}.",
    "usage_lasts": "À ce rythme, le forfait avec '{backend}' tiendra jusqu'à son renouvellement.",
    "usage_top": "Le plus de messages sur cette période : {top}",
    "usage_off": "🧮 Ce bot ne fixe aucune limite de messages.",
    "granted": "✅ {user} a maintenant {extra} messages en plus sur cette période ({used} utilisés jusqu'ici).",
    "plan_state": "Le forfait avec '{backend}' a utilisé {used} messages sur {limit}. Il se renouvelle à partir du {reset}. {forecast}",
    "allowance_alert": "🧮 Alerte forfait ({share}) : {state}",
}

RU: dict[str, str] = {
    "quota": "⏳ {assistant}: лимит сообщений пока исчерпан. "
    "Попробуйте снова примерно через {wait}.",
    "quota_later": "⏳ {assistant}: лимит сообщений пока исчерпан. Попробуйте позже.",
    "throttled": "⏳ {assistant} сейчас не успевает отвечать. "
    "Попробуйте снова примерно через {wait}.",
    "throttled_later": "⏳ {assistant} сейчас не успевает отвечать. "
    "Попробуйте ещё раз через минуту.",
    "unavailable": "⚠️ {assistant} сейчас не отвечает. Попробуйте чуть позже.",
    "interrupted": "⚠️ Ответ оборвался на середине.",
    "reply_lost": "⚠️ Ответ прервался из-за перезапуска. Можете спросить ещё раз.",
    "stopped": "⏹️ Остановлено.",
    "stop_refused": "Остановить этот ответ может только тот, кто спросил, или администратор.",
    "stop_none": "Здесь сейчас не пишется ответ для вас.",
    "stop_button": "Стоп",
    "cmd_stop": "Остановить ответ, который сейчас пишется для вас",
    "unauthorized": "⚠️ {assistant}: доступ отклонён, бот настроен неправильно. "
    "Пожалуйста, сообщите об этом администратору бота.",
    "rejected": "⚠️ {assistant}: это сообщение не принято.",
    "rejected_because": "⚠️ {assistant}: это сообщение не принято ({reason}).",
    "failed": "⚠️ Что-то пошло не так на нашей стороне. Попробуйте ещё раз.",
    "empty_reply": "🤔 {assistant}: пришёл пустой ответ. Попробуйте переформулировать сообщение.",
    "store_down": "⚠️ Сейчас нет доступа к моей памяти, поэтому сообщение не отправлено "
    "дальше. Попробуйте чуть позже.",
    "conversation_replaced": "♻️ Прежнего разговора у сервиса больше нет, поэтому начат новый.",
    "conversation_gone": "⚠️ Разговора, к которому привязан этот чат, у сервиса больше нет. "
    "Администратор должен привязать чат заново (/bind).",
    "assistant_refused": "⚠️ {assistant}: сервис отказывается начинать разговор с настроенным "
    "персонажем или ботом. Администратор должен исправить настройки.",
    "assistant_refused_admin": "⚠️ {assistant}: сервис отказывается начинать разговор в {channel}: "
    "{reason}. Исправьте настройки бота.",
    "store_full": "⚠️ Моя память сейчас переполнена: я ничего не могу сохранить, поэтому "
    "сообщение не отправлено. Попробуйте позже.",
    "shutting_down": "⚠️ Бот перезапускается, ответ прерван. Спросите ещё раз через минуту.",
    "rate_limited": "🐢 Вы пишете слишком часто. Подождите немного (лимит считается за {window}).",
    "busy": "⏳ Я ещё отвечаю на предыдущие сообщения. Отправьте ваше ещё раз чуть позже.",
    "empty": "Я понимаю только текст. Напишите мне сообщение словами.",
    "attachment_only": "Пока я понимаю только текст. Добавьте подпись или напишите сообщение.",
    "too_long": "✂️ В сообщении {length} симв., а можно не больше {limit}. "
    "Сократите его или разбейте на части.",
    "no_backend": "Этот чат пока не подключён к ассистенту. "
    "Администратор может подключить его командой /bind.",
    "access_denied": "🔒 Извините, этот бот для вас недоступен.",
    "help": "👋 Я пересылаю ваши сообщения ИИ-ассистенту и показываю его ответ здесь по мере "
    "написания.\n{how}\n\n{commands}\n\nБэкенды: {backends}",
    "help_private": "Просто напишите мне — я отвечу.",
    "help_group": "Упомяните меня ({bot}) или ответьте на одно из моих сообщений — и я отвечу.",
    "help_commands": "Команды:",
    "help_admin_commands": "Для администраторов:",
    "cmd_help": "Что это за бот и как с ним общаться",
    "cmd_status": "К чему подключён этот чат",
    "cmd_reset": "Начать новый разговор",
    "cmd_bind": "Подключить этот чат к бэкенду",
    "cmd_unbind": "Отключить этот чат",
    "cmd_mode": "Когда отвечать здесь (mentions, all, off)",
    "cmd_scope": "Один разговор на всех или у каждого свой",
    "cmd_block": "Игнорировать здесь сообщения пользователя",
    "cmd_unblock": "Снова отвечать заблокированному пользователю",
    "cmd_bridge": "Подключить этот канал к ИИ-ассистенту",
    "arg_backend": "Какой из настроенных бэкендов",
    "arg_remote": "ID существующего разговора в бэкенде (необязательно)",
    "arg_mode": "mentions: когда меня упоминают или отвечают мне; all: каждое сообщение; off: никогда",
    "arg_scope": "shared: один разговор на всех; user: у каждого свой",
    "arg_user": "Пользователь",
    "not_admin": "🔒 Извините, это могут делать только администраторы чата.",
    "usage": "Использование: {command} {args}",
    "unknown_command": "Я не знаю команду {command}. Попробуйте /help.",
    "unknown_backend": "Бэкенда «{name}» нет. Выберите один из этих: {known}.",
    "bound": "✅ Теперь этот чат общается с «{backend}» ({remote}).",
    "no_remote": "разговора ещё нет",
    "unbound": "✅ Чат отключён и будет использовать бэкенд по умолчанию.",
    "not_bound": "Этот чат и не был подключён.",
    "reset_done": "🧹 Начат новый разговор с «{backend}».",
    "reset_mine": "🧹 Ваш личный разговор с «{backend}» начат заново.",
    "mode_set": "✅ Режим: «{mode}». {what}",
    "mode_mentions": "Буду отвечать, когда меня упоминают или отвечают на мои сообщения.",
    "mode_all": "Буду отвечать здесь на каждое сообщение.",
    "mode_off": "Буду молчать здесь (команды по-прежнему работают).",
    "scope_set": "✅ Область: «{scope}». {what}",
    "scope_shared": "Все здесь ведут один общий разговор.",
    "scope_user": "У каждого здесь свой отдельный разговор.",
    "status": "📡 {where}.\nРежим: {mode}.\nОбласть: {scope}.{paused}",
    "status_private": "📡 {where}.{paused}",
    "status_bound": "Подключён к «{backend}» ({remote})",
    "status_unbound": "Пока не подключён; первое сообщение начнёт разговор с «{backend}»",
    "status_nothing": "Не подключён, и бэкенда по умолчанию нет",
    "status_paused": "\n{assistant}: пауза ещё примерно на {wait} (лимит сообщений).",
    "blocked_user": "🚫 Сообщения от {user} здесь теперь игнорируются.",
    "already_blocked": "Сообщения от {user} здесь уже игнорировались.",
    "unblocked_user": "✅ Сообщения от {user} здесь снова принимаются.",
    "not_blocked": "Сообщения от {user} здесь и не игнорировались.",
    # allowances
    "allowance_user": "🧮 Вы израсходовали все свои сообщения на этот период. Лимит обновится {reset}.",
    "allowance_chat": "🧮 В этом чате израсходованы все сообщения на этот период. Лимит обновится {reset}.",
    "allowance_server": "🧮 Все участники здесь вместе израсходовали доступные сообщения на этот период. Лимит обновится {reset}.",
    "allowance_plan": "🧮 {assistant}: сообщения по тарифу бота на этот период закончились. Лимит обновится {reset}.",
    "cmd_usage": "Сколько сообщений вы использовали и сколько осталось",
    "cmd_grant": "Дать человеку дополнительные сообщения на этот период",
    "arg_amount": "Сколько сообщений (отрицательное число забирает их)",
    "usage_user": "🧮 Вы",
    "usage_chat": "Этот чат",
    "usage_server": "Все участники здесь вместе",
    "usage_plan": "Тариф '{key}'",
    "usage_line": "{what}: {used} из {limit} сообщений, до {reset}",
    "usage_line_free": "{what}: {used} сообщений (без лимита), счёт до {reset}",
    "usage_runs_out": "В таком темпе тариф '{backend}' закончится {date}.",
    "usage_lasts": "В таком темпе тарифа '{backend}' хватит до его обновления.",
    "usage_top": "Больше всего сообщений за этот период: {top}",
    "usage_off": "🧮 У этого бота нет лимитов сообщений.",
    "granted": "✅ У {user} теперь {extra} дополнительных сообщений на этот период (использовано: {used}).",
    "plan_state": "По тарифу '{backend}' использовано {used} из {limit} сообщений. Лимит обновится {reset}. {forecast}",
    "allowance_alert": "🧮 Тариф ({share}): {state}",
}

PT: dict[str, str] = {
    "quota": "⏳ {assistant} atingiu o limite de mensagens por enquanto. "
    "Tente de novo em cerca de {wait}.",
    "quota_later": "⏳ {assistant} atingiu o limite de mensagens por enquanto. "
    "Tente de novo mais tarde.",
    "throttled": "⏳ {assistant} está recebendo pedidos demais agora. "
    "Tente de novo em cerca de {wait}.",
    "throttled_later": "⏳ {assistant} está recebendo pedidos demais agora. "
    "Tente de novo daqui a pouco.",
    "unavailable": "⚠️ {assistant} não está respondendo no momento. Tente de novo daqui a pouco.",
    "interrupted": "⚠️ A resposta foi interrompida antes de terminar.",
    "reply_lost": "⚠️ A resposta foi interrompida por uma reinicialização. Pode perguntar de novo.",
    "stopped": "⏹️ Interrompida.",
    "stop_refused": "Só quem perguntou, ou um administrador, pode parar esta resposta.",
    "stop_none": "Não há nenhuma resposta sua sendo escrita aqui.",
    "stop_button": "Parar",
    "cmd_stop": "Parar a sua resposta que está sendo escrita aqui",
    "unauthorized": "⚠️ {assistant} teve o acesso recusado: a configuração não está correta. "
    "Por favor, avise o administrador do bot.",
    "rejected": "⚠️ {assistant} não conseguiu aceitar essa mensagem.",
    "rejected_because": "⚠️ {assistant} não conseguiu aceitar essa mensagem ({reason}).",
    "failed": "⚠️ Algo deu errado do nosso lado. Tente de novo.",
    "empty_reply": "🤔 {assistant} enviou uma resposta vazia. Tente reformular sua mensagem.",
    "store_down": "⚠️ Não consigo acessar minha memória agora, então sua mensagem não foi "
    "repassada. Tente de novo em instantes.",
    "conversation_replaced": "♻️ A conversa antiga não existe mais no serviço, então esta é uma nova.",
    "conversation_gone": "⚠️ A conversa à qual este chat está vinculado não existe mais no "
    "serviço. Um administrador precisa vinculá-lo de novo (/bind).",
    "assistant_refused": "⚠️ {assistant} se recusa a iniciar uma conversa com o personagem ou "
    "bot configurado. Um administrador precisa corrigir a configuração.",
    "assistant_refused_admin": "⚠️ {assistant} se recusa a iniciar uma conversa em {channel}: "
    "{reason}. Corrija a configuração do bot, por favor.",
    "store_full": "⚠️ Minha memória está cheia agora, então não consigo guardar nada e sua "
    "mensagem não foi enviada. Tente de novo mais tarde.",
    "shutting_down": "⚠️ O bot está reiniciando e esta resposta foi interrompida. "
    "Pergunte de novo daqui a um minuto.",
    "rate_limited": "🐢 Você está mandando mensagens rápido demais. "
    "Espere um pouco (há um limite a cada {window}).",
    "busy": "⏳ Ainda estou respondendo mensagens anteriores aqui. "
    "Envie a sua de novo daqui a pouco.",
    "empty": "Só consigo ler texto. Mande uma mensagem com algumas palavras.",
    "attachment_only": "Por enquanto só consigo ler texto. "
    "Adicione uma legenda ou digite sua mensagem.",
    "too_long": "✂️ Essa mensagem tem {length} caracteres e o limite é {limit}. "
    "Encurte-a ou divida-a em partes.",
    "no_backend": "Este chat ainda não está conectado a nenhum assistente. "
    "Um administrador pode conectá-lo com /bind.",
    "access_denied": "🔒 Desculpe, este bot não está disponível para você.",
    "help": "👋 Eu repasso suas mensagens para um assistente de IA e mostro a resposta aqui "
    "em tempo real.\n{how}\n\n{commands}\n\nBackends: {backends}",
    "help_private": "É só me mandar uma mensagem que eu respondo.",
    "help_group": "Me mencione ({bot}) ou responda a uma das minhas mensagens que eu respondo.",
    "help_commands": "Comandos:",
    "help_admin_commands": "Para administradores:",
    "cmd_help": "O que é este bot e como falar com ele",
    "cmd_status": "A que este chat está conectado",
    "cmd_reset": "Começar uma conversa nova",
    "cmd_bind": "Conectar este chat a um backend",
    "cmd_unbind": "Desconectar este chat",
    "cmd_mode": "Quando responder aqui (mentions, all, off)",
    "cmd_scope": "Uma conversa para todos aqui ou uma por pessoa",
    "cmd_block": "Ignorar aqui as mensagens de alguém",
    "cmd_unblock": "Voltar a responder a alguém bloqueado",
    "cmd_bridge": "Conectar este canal a um assistente de IA",
    "arg_backend": "Qual backend configurado",
    "arg_remote": "IDs de uma conversa existente no backend (opcional)",
    "arg_mode": "mentions: quando me mencionam ou me respondem; all: toda mensagem; off: nunca",
    "arg_scope": "shared: uma conversa para todos; user: uma por pessoa",
    "arg_user": "A pessoa",
    "not_admin": "🔒 Desculpe, só os administradores deste chat podem fazer isso.",
    "usage": "Uso: {command} {args}",
    "unknown_command": "Não conheço {command}. Tente /help.",
    "unknown_backend": "Não existe backend chamado “{name}”. Escolha um destes: {known}.",
    "bound": "✅ Agora este chat fala com “{backend}” ({remote}).",
    "no_remote": "ainda sem conversa",
    "unbound": "✅ Desconectado. Este chat vai usar o backend padrão.",
    "not_bound": "Este chat não estava conectado.",
    "reset_done": "🧹 Começamos uma conversa nova com “{backend}”.",
    "reset_mine": "🧹 Sua conversa com “{backend}” recomeçou do zero.",
    "mode_set": "✅ Modo definido como “{mode}”. {what}",
    "mode_mentions": "Vou responder quando me mencionarem ou responderem às minhas mensagens.",
    "mode_all": "Vou responder a todas as mensagens aqui.",
    "mode_off": "Vou ficar em silêncio aqui (os comandos continuam funcionando).",
    "scope_set": "✅ Escopo definido como “{scope}”. {what}",
    "scope_shared": "Todos aqui compartilham a mesma conversa.",
    "scope_user": "Cada pessoa aqui tem sua própria conversa.",
    "status": "📡 {where}.\nModo: {mode}.\nEscopo: {scope}.{paused}",
    "status_private": "📡 {where}.{paused}",
    "status_bound": "Conectado a “{backend}” ({remote})",
    "status_unbound": "Ainda não conectado; a primeira mensagem inicia uma conversa "
    "com “{backend}”",
    "status_nothing": "Não conectado, e não há backend padrão",
    "status_paused": "\n{assistant} está em pausa por cerca de {wait} (limite de mensagens).",
    "blocked_user": "🚫 As mensagens de {user} agora são ignoradas aqui.",
    "already_blocked": "As mensagens de {user} já eram ignoradas aqui.",
    "unblocked_user": "✅ As mensagens de {user} voltaram a ser respondidas aqui.",
    "not_blocked": "As mensagens de {user} não estavam sendo ignoradas aqui.",
    # allowances
    "allowance_user": "🧮 Você usou todas as suas mensagens por enquanto. Poderá escrever de novo a partir de {reset}.",
    "allowance_chat": "🧮 Este chat usou todas as mensagens por enquanto. Elas voltam a partir de {reset}.",
    "allowance_server": "🧮 Todos aqui, juntos, usaram as mensagens permitidas por enquanto. Elas voltam a partir de {reset}.",
    "allowance_plan": "🧮 {assistant}: o plano do bot esgotou as mensagens por enquanto. Elas voltam a partir de {reset}.",
    "cmd_usage": "Suas mensagens usadas e restantes neste período",
    "cmd_grant": "Dar a uma pessoa mensagens extras neste período",
    "arg_amount": "Quantas mensagens (um número negativo as retira)",
    "usage_user": "🧮 Você",
    "usage_chat": "Este chat",
    "usage_server": "Todos aqui, juntos",
    "usage_plan": "O plano com '{key}'",
    "usage_line": "{what}: {used} de {limit} mensagens, até {reset}",
    "usage_line_free": "{what}: {used} mensagens (sem limite), contadas até {reset}",
    "usage_runs_out": "Neste ritmo o plano com '{backend}' se esgota em {date}.",
    "usage_lasts": "Neste ritmo o plano com '{backend}' dura até recomeçar.",
    "usage_top": "Mais mensagens neste período: {top}",
    "usage_off": "🧮 Este bot não define limites de mensagens.",
    "granted": "✅ {user} agora tem {extra} mensagens extras neste período ({used} usadas até agora).",
    "plan_state": "O plano com '{backend}' usou {used} de {limit} mensagens. Ele recomeça a partir de {reset}. {forecast}",
    "allowance_alert": "🧮 Alerta do plano ({share}): {state}",
}

UK: dict[str, str] = {
    "quota": "⏳ {assistant}: ліміт повідомлень поки вичерпано. "
    "Спробуйте ще раз приблизно через {wait}.",
    "quota_later": "⏳ {assistant}: ліміт повідомлень поки вичерпано. Спробуйте пізніше.",
    "throttled": "⏳ {assistant} зараз не встигає відповідати. "
    "Спробуйте ще раз приблизно через {wait}.",
    "throttled_later": "⏳ {assistant} зараз не встигає відповідати. Спробуйте ще раз за хвилину.",
    "unavailable": "⚠️ {assistant} зараз не відповідає. Спробуйте трохи згодом.",
    "interrupted": "⚠️ Відповідь обірвалася на півслові.",
    "reply_lost": "⚠️ Відповідь перервалася через перезапуск. Можете запитати ще раз.",
    "stopped": "⏹️ Зупинено.",
    "stop_refused": "Зупинити цю відповідь може лише той, хто запитав, або адміністратор.",
    "stop_none": "Тут зараз не пишеться відповідь для вас.",
    "stop_button": "Стоп",
    "cmd_stop": "Зупинити відповідь, яка зараз пишеться для вас",
    "unauthorized": "⚠️ {assistant}: доступ відхилено, бота налаштовано неправильно. "
    "Будь ласка, повідомте про це адміністратора бота.",
    "rejected": "⚠️ {assistant}: це повідомлення не прийнято.",
    "rejected_because": "⚠️ {assistant}: це повідомлення не прийнято ({reason}).",
    "failed": "⚠️ Щось пішло не так на нашому боці. Спробуйте ще раз.",
    "empty_reply": "🤔 {assistant}: надійшла порожня відповідь. "
    "Спробуйте переформулювати повідомлення.",
    "store_down": "⚠️ Зараз немає доступу до моєї пам'яті, тож повідомлення не передано далі. "
    "Спробуйте трохи згодом.",
    "conversation_replaced": "♻️ Попередньої розмови в сервісі більше немає, тож почато нову.",
    "conversation_gone": "⚠️ Розмови, до якої прив'язано цей чат, у сервісі більше немає. "
    "Адміністратор має прив'язати чат заново (/bind).",
    "assistant_refused": "⚠️ {assistant}: сервіс відмовляється починати розмову з налаштованим "
    "персонажем чи ботом. Адміністратор має виправити налаштування.",
    "assistant_refused_admin": "⚠️ {assistant}: сервіс відмовляється починати розмову в {channel}: "
    "{reason}. Виправте налаштування бота.",
    "store_full": "⚠️ Моя пам'ять зараз переповнена: я нічого не можу зберегти, тож "
    "повідомлення не передано. Спробуйте пізніше.",
    "shutting_down": "⚠️ Бот перезапускається, відповідь перервано. Запитайте ще раз за хвилину.",
    "rate_limited": "🐢 Ви пишете надто часто. Зачекайте трохи (ліміт рахується за {window}).",
    "busy": "⏳ Я ще відповідаю на попередні повідомлення. Надішліть своє ще раз трохи згодом.",
    "empty": "Я розумію лише текст. Напишіть мені повідомлення словами.",
    "attachment_only": "Поки що я розумію лише текст. Додайте підпис або напишіть повідомлення.",
    "too_long": "✂️ У повідомленні {length} симв., а можна не більше {limit}. "
    "Скоротіть його або розбийте на частини.",
    "no_backend": "Цей чат ще не під'єднано до асистента. "
    "Адміністратор може під'єднати його командою /bind.",
    "access_denied": "🔒 Вибачте, цей бот для вас недоступний.",
    "help": "👋 Я пересилаю ваші повідомлення ШІ-асистентові й показую його відповідь тут у міру "
    "написання.\n{how}\n\n{commands}\n\nБекенди: {backends}",
    "help_private": "Просто напишіть мені — я відповім.",
    "help_group": "Згадайте мене ({bot}) або дайте відповідь на одне з моїх повідомлень — "
    "і я відповім.",
    "help_commands": "Команди:",
    "help_admin_commands": "Для адміністраторів:",
    "cmd_help": "Що це за бот і як із ним спілкуватися",
    "cmd_status": "До чого під'єднано цей чат",
    "cmd_reset": "Почати нову розмову",
    "cmd_bind": "Під'єднати цей чат до бекенда",
    "cmd_unbind": "Від'єднати цей чат",
    "cmd_mode": "Коли відповідати тут (mentions, all, off)",
    "cmd_scope": "Одна розмова на всіх чи в кожного своя",
    "cmd_block": "Ігнорувати тут повідомлення користувача",
    "cmd_unblock": "Знову відповідати заблокованому користувачеві",
    "cmd_bridge": "Під'єднати цей канал до ШІ-асистента",
    "arg_backend": "Який із налаштованих бекендів",
    "arg_remote": "ID наявної розмови в бекенді (необов'язково)",
    "arg_mode": "mentions: коли мене згадують або відповідають мені; all: кожне повідомлення; off: ніколи",
    "arg_scope": "shared: одна розмова для всіх; user: у кожного своя",
    "arg_user": "Користувач",
    "not_admin": "🔒 Вибачте, це можуть робити лише адміністратори чату.",
    "usage": "Використання: {command} {args}",
    "unknown_command": "Я не знаю команди {command}. Спробуйте /help.",
    "unknown_backend": "Бекенда «{name}» немає. Виберіть один із цих: {known}.",
    "bound": "✅ Тепер цей чат спілкується з «{backend}» ({remote}).",
    "no_remote": "розмови ще немає",
    "unbound": "✅ Чат від'єднано, тепер він використовуватиме бекенд за замовчуванням.",
    "not_bound": "Цей чат і не був під'єднаний.",
    "reset_done": "🧹 Почато нову розмову з «{backend}».",
    "reset_mine": "🧹 Вашу особисту розмову з «{backend}» почато заново.",
    "mode_set": "✅ Режим: «{mode}». {what}",
    "mode_mentions": "Відповідатиму, коли мене згадують або відповідають на мої повідомлення.",
    "mode_all": "Відповідатиму тут на кожне повідомлення.",
    "mode_off": "Мовчатиму тут (команди й далі працюють).",
    "scope_set": "✅ Область: «{scope}». {what}",
    "scope_shared": "Усі тут ведуть одну спільну розмову.",
    "scope_user": "У кожного тут своя окрема розмова.",
    "status": "📡 {where}.\nРежим: {mode}.\nОбласть: {scope}.{paused}",
    "status_private": "📡 {where}.{paused}",
    "status_bound": "Під'єднано до «{backend}» ({remote})",
    "status_unbound": "Ще не під'єднано; перше повідомлення почне розмову з «{backend}»",
    "status_nothing": "Не під'єднано, і бекенда за замовчуванням немає",
    "status_paused": "\n{assistant}: пауза ще приблизно на {wait} (ліміт повідомлень).",
    "blocked_user": "🚫 Повідомлення від {user} тут тепер ігноруються.",
    "already_blocked": "Повідомлення від {user} тут уже ігнорувалися.",
    "unblocked_user": "✅ Повідомлення від {user} тут знову приймаються.",
    "not_blocked": "Повідомлення від {user} тут і не ігнорувалися.",
    # allowances
    "allowance_user": "🧮 Ви використали всі свої повідомлення на цей період. Ліміт оновиться {reset}.",
    "allowance_chat": "🧮 У цьому чаті використано всі повідомлення на цей період. Ліміт оновиться {reset}.",
    "allowance_server": "🧮 Усі учасники тут разом використали доступні повідомлення на цей період. Ліміт оновиться {reset}.",
    "allowance_plan": "🧮 {assistant}: повідомлення за тарифом бота на цей період закінчилися. Ліміт оновиться {reset}.",
    "cmd_usage": "Скільки повідомлень ви використали і скільки лишилося",
    "cmd_grant": "Дати людині додаткові повідомлення на цей період",
    "arg_amount": "Скільки повідомлень (від'ємне число забирає їх)",
    "usage_user": "🧮 Ви",
    "usage_chat": "Цей чат",
    "usage_server": "Усі учасники тут разом",
    "usage_plan": "Тариф '{key}'",
    "usage_line": "{what}: {used} з {limit} повідомлень, до {reset}",
    "usage_line_free": "{what}: {used} повідомлень (без ліміту), лік до {reset}",
    "usage_runs_out": "У такому темпі тариф '{backend}' закінчиться {date}.",
    "usage_lasts": "У такому темпі тарифу '{backend}' вистачить до його оновлення.",
    "usage_top": "Найбільше повідомлень за цей період: {top}",
    "usage_off": "🧮 Цей бот не має лімітів повідомлень.",
    "granted": "✅ {user} тепер має {extra} додаткових повідомлень на цей період (використано: {used}).",
    "plan_state": "За тарифом '{backend}' використано {used} з {limit} повідомлень. Ліміт оновиться {reset}. {forecast}",
    "allowance_alert": "🧮 Тариф ({share}): {state}",
}

CATALOGUES: Mapping[str, Mapping[str, str]] = {
    "en": EN,
    "de": DE,
    "es": ES,
    "fr": FR,
    "ru": RU,
    "pt": PT,
    "uk": UK,
}
LANGUAGES = tuple(CATALOGUES)

ASSISTANT_NAMES: Mapping[str, str] = {
    "en": "The assistant",
    "de": "Der Assistent",
    "es": "El asistente",
    "fr": "L'assistant",
    "ru": "Ассистент",
    "pt": "O assistente",
    "uk": "Асистент",
}

# Unit names: (one, other) where a language has two forms; (one, few, many) in Russian and
# Ukrainian, in the accusative.
_UNITS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "en": {"s": ("second", "seconds"), "m": ("minute", "minutes"), "h": ("hour", "hours")},
    "de": {"s": ("Sekunde", "Sekunden"), "m": ("Minute", "Minuten"), "h": ("Stunde", "Stunden")},
    "es": {"s": ("segundo", "segundos"), "m": ("minuto", "minutos"), "h": ("hora", "horas")},
    "fr": {"s": ("seconde", "secondes"), "m": ("minute", "minutes"), "h": ("heure", "heures")},
    "pt": {"s": ("segundo", "segundos"), "m": ("minuto", "minutos"), "h": ("hora", "horas")},
    "ru": {
        "s": ("секунду", "секунды", "секунд"),
        "m": ("минуту", "минуты", "минут"),
        "h": ("час", "часа", "часов"),
    },
    "uk": {
        "s": ("секунду", "секунди", "секунд"),
        "m": ("хвилину", "хвилини", "хвилин"),
        "h": ("годину", "години", "годин"),
    },
}


def duration(language: str, seconds: float) -> str:
    """'45 seconds', '3 minutes', '2 hours' in ``language``: rounded up, never '0 seconds'."""
    s = max(1, int(seconds + 0.999))
    if s < 90:
        count, unit = s, "s"
    elif (m := (s + 59) // 60) < 90:
        count, unit = m, "m"
    else:
        count, unit = (m + 59) // 60, "h"
    return f"{count} {_plural(_UNITS[language][unit], count)}"


def _plural(forms: tuple[str, ...], n: int) -> str:
    if len(forms) == 2:
        return forms[0] if n == 1 else forms[1]
    if n % 10 == 1 and n % 100 != 11:
        return forms[0]
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return forms[1]
    return forms[2]
