"""Every text the bridge and its channels write themselves, in tú and usted.

Why one home: the store chooses how it speaks to shoppers (data/store/policy.yml
``brand_voice``, ``STORE_BRAND_VOICE`` overrides) and the bot's own answers
follow it (domain.yml condition variants). The bridge's notices, Telegram's
help and handoff lines and the error details a shopper can read must follow it
too, so each text lives here once with both variants and ``texts_for(voice)``
picks the set. The widget has its own strings (handoff/static/widget.js, both
voices); the bridge tells it the voice when it serves the script and in the
``session`` frame.

Limits: placeholders use ``str.format`` names ({agent}, {name}, {mb}, ...);
agent-facing texts (console errors) are not here: agents are staff.
"""
from __future__ import annotations

import re
from typing import Dict, Mapping, Optional, Tuple

VOICES = ("tu", "usted")

# key -> (tú, usted)
_TEXTS: Mapping[str, Tuple[str, str]] = {
    # -- bridge (handoff/bridge/) --
    "apology": (
        "Perdona, ahora mismo el asistente no responde. Si quieres, te paso con una persona del equipo.",
        "Disculpe, ahora mismo el asistente no responde. Si lo desea, le paso con una persona del equipo.",
    ),
    "resumed": (
        "Vuelves a hablar con el asistente virtual. ¿En qué más te puedo ayudar?",
        "Vuelve a hablar con el asistente virtual. ¿En qué más le puedo ayudar?",
    ),
    "agent_lost": (
        "La persona que te atendía se ha desconectado. Te hemos vuelto a poner en el primer puesto de la cola.",
        "La persona que le atendía se ha desconectado. Le hemos vuelto a poner en el primer puesto de la cola.",
    ),
    "attachment_kept": (
        "He guardado tu archivo. Yo no puedo ver imágenes ni documentos, pero si hace falta se lo pasaré "
        "a una persona del equipo cuando hables con ella.",
        "He guardado su archivo. Yo no puedo ver imágenes ni documentos, pero si hace falta se lo pasaré "
        "a una persona del equipo cuando hable con ella.",
    ),
    # out of hours: the one line that says it and the promise ({promise}: the "promise" text below);
    # the queued notice and the widget's status do not repeat them
    "opening": (
        "Ahora estamos fuera del horario de atención. {promise} Atendemos {hours}.",
        "Ahora estamos fuera del horario de atención. {promise} Atendemos {hours}.",
    ),
    "opening_ask_email": (
        " Si quieres, déjanos tu correo electrónico y te escribiremos.",
        " Si lo desea, déjenos su correo electrónico y le escribiremos.",
    ),
    "opening_email_known": (
        " Ya tenemos tu correo ({email}): si hace falta, te escribiremos ahí.",
        " Ya tenemos su correo ({email}): si hace falta, le escribiremos ahí.",
    ),
    "contact_thanks": (
        "Gracias. Te escribiremos a ese correo en cuanto alguien del equipo esté disponible.",
        "Gracias. Le escribiremos a ese correo en cuanto alguien del equipo esté disponible.",
    ),
    # the rating request, the same on every channel (the ``text`` of ``csat_request``)
    "csat_ask": (
        "¿Qué tal te ha atendido {agent}? Valóralo del 1 (muy mal) al 5 (muy bien).",
        "¿Qué tal le ha atendido {agent}? Valórelo del 1 (muy mal) al 5 (muy bien).",
    ),
    "csat_ask_team": (
        "¿Qué tal te hemos atendido? Valóralo del 1 (muy mal) al 5 (muy bien).",
        "¿Qué tal le hemos atendido? Valórelo del 1 (muy mal) al 5 (muy bien).",
    ),
    "csat_thanks": ("¡Gracias por tu valoración!", "¡Gracias por su valoración!"),
    # the NPS question after some ratings (``nps_request``), 0-10
    "nps_ask": (
        "Una última pregunta: ¿con qué probabilidad nos recomendarías a tus amigos o familiares? "
        "Del 0 (nada probable) al 10 (muy probable).",
        "Una última pregunta: ¿con qué probabilidad nos recomendaría a sus amigos o familiares? "
        "Del 0 (nada probable) al 10 (muy probable).",
    ),
    "nps_low": ("Nada probable", "Nada probable"),
    "nps_high": ("Muy probable", "Muy probable"),
    "nps_thanks": ("¡Gracias por tu respuesta!", "¡Gracias por su respuesta!"),
    "tg_nps_not_pending": ("Ya habías respondido a esta pregunta.", "Ya había respondido a esta pregunta."),
    "step_over": (
        "Ese paso ya ha terminado, así que no he hecho nada con ese botón. Dime qué necesitas y seguimos.",
        "Ese paso ya ha terminado, así que no he hecho nada con ese botón. Dígame qué necesita y seguimos.",
    ),
    # leaving the queue (Bridge._queue_exit)
    "queue_left": (
        "De acuerdo, he cancelado la espera: nadie del equipo te escribirá por esto. Sigues conmigo, el "
        "asistente virtual. ¿En qué te puedo ayudar?",
        "De acuerdo, he cancelado la espera: nadie del equipo le escribirá por esto. Sigue conmigo, el "
        "asistente virtual. ¿En qué le puedo ayudar?",
    ),
    "queue_exit_ask": (
        "¿Quieres dejar de esperar y volver al asistente virtual? Si prefieres seguir en la cola, no pierdes "
        "tu turno.",
        "¿Desea dejar de esperar y volver al asistente virtual? Si prefiere seguir en la cola, no pierde "
        "su turno.",
    ),
    "queue_kept": (
        "Perfecto, sigues en la cola. Te avisaré en cuanto una persona del equipo se una.",
        "Perfecto, sigue en la cola. Le avisaré en cuanto una persona del equipo se una.",
    ),
    "queue_exit_too_late": (
        "{agent} ya te está atendiendo. Si ya no lo necesitas, díselo aquí mismo.",
        "{agent} ya le está atendiendo. Si ya no lo necesita, dígaselo aquí mismo.",
    ),
    "queue_not_queued": (
        "Ya no estás en la cola: sigues hablando con el asistente virtual. Dime qué necesitas.",
        "Ya no está en la cola: sigue hablando con el asistente virtual. Dígame qué necesita.",
    ),
    # the promise of a queued shopper (the queued handoff frame's ``promise_text``; handoff/sla.py)
    "promise": ("Te respondemos {when}.", "Le respondemos {when}."),
    # the promise passed with nobody answering (Bridge.sla_sweep): one apology and a new time
    "sla_missed_queued": (
        "Perdona la espera: no hemos llegado a responderte {missed}, como te dijimos. Sigues en la cola "
        "y te respondemos {when}.",
        "Disculpe la espera: no hemos llegado a responderle {missed}, como le dijimos. Sigue en la cola "
        "y le respondemos {when}.",
    ),
    "sla_missed_assigned": (
        "Perdona la espera: {agent} ya tiene tu conversación y te responde {when}.",
        "Disculpe la espera: {agent} ya tiene su conversación y le responde {when}.",
    ),
    # a queued shopper asked for a person again (/agente, the button): no second place in the queue
    "queue_already": (
        "Ya estás en la cola para hablar con una persona, en la posición {position}: te atenderá alguien del "
        "equipo en cuanto quede libre.",
        "Ya está en la cola para hablar con una persona, en la posición {position}: le atenderá alguien del "
        "equipo en cuanto quede libre.",
    ),
    # a queued shopper wrote (Bridge._queue_ack): once, then after a while or a new position
    "queue_ack": (
        "He pasado tu mensaje al equipo: lo leerá la persona que te atienda. Sigues en la cola, en la "
        "posición {position}.",
        "He pasado su mensaje al equipo: lo leerá la persona que le atienda. Sigue en la cola, en la "
        "posición {position}.",
    ),
    # a queued shopper sent a file: said as the case is about (``attachment_topic``: the
    # handoff reason), never a damaged item's words for a payment's receipt
    "queue_ack_file": (
        "He pasado tu archivo al equipo: lo verá la persona que te atienda. Sigues en la cola, en la "
        "posición {position}.",
        "He pasado su archivo al equipo: lo verá la persona que le atienda. Sigue en la cola, en la "
        "posición {position}.",
    ),
    "queue_ack_file_payment": (
        "He pasado tu archivo al equipo: la persona que te atienda lo revisará con el pago (el justificante "
        "o la captura del cargo). Sigues en la cola, en la posición {position}.",
        "He pasado su archivo al equipo: la persona que le atienda lo revisará con el pago (el justificante "
        "o la captura del cargo). Sigue en la cola, en la posición {position}.",
    ),
    "queue_ack_file_damaged": (
        "He pasado tu archivo al equipo: la persona que te atienda verá cómo ha llegado el producto. Sigues "
        "en la cola, en la posición {position}.",
        "He pasado su archivo al equipo: la persona que le atienda verá cómo ha llegado el producto. Sigue "
        "en la cola, en la posición {position}.",
    ),
    # the wait estimate, after a queue line: {wait} is ``wait_text`` ("unos 5 minutos")
    "queue_ack_wait": (" Espera estimada: {wait}.", " Espera estimada: {wait}."),
    # a web shopper whose page was gone too long while queued (Bridge.abandon_idle): read on return
    "queue_abandoned": (
        "Como cerraste el chat mientras esperabas, la espera ha terminado y ya no estás en la cola. "
        "Sigues conmigo, el asistente virtual. Si aún necesitas a una persona del equipo, pulsa el botón.",
        "Como cerró el chat mientras esperaba, la espera ha terminado y ya no está en la cola. "
        "Sigue conmigo, el asistente virtual. Si aún necesita a una persona del equipo, pulse el botón.",
    ),
    # order updates the shop reported (handoff/shop/updates.py), on every channel
    "upd_shipped": (
        "¡Tu pedido {order} ya está en camino! Llegará el {date}.",
        "¡Su pedido {order} ya está en camino! Llegará el {date}.",
    ),
    "upd_out_for_delivery": (
        "Tu pedido {order} ya está en reparto: hoy llega a tu dirección.",
        "Su pedido {order} ya está en reparto: hoy llega a su dirección.",
    ),
    "upd_delivered": (
        "Tu pedido {order} ya está entregado. ¡Esperamos que te guste!",
        "Su pedido {order} ya está entregado. ¡Esperamos que le guste!",
    ),
    "upd_delayed": (
        "Lo sentimos: tu pedido {order} se retrasa. La nueva fecha de entrega es el {date}. "
        "Si quieres, te paso con una persona del equipo.",
        "Lo sentimos: su pedido {order} se retrasa. La nueva fecha de entrega es el {date}. "
        "Si lo desea, le paso con una persona del equipo.",
    ),
    "upd_late": (
        "Lo sentimos: tu pedido {order} debía llegar el {date} y aún no consta como entregado. "
        "Ya lo estamos revisando. Si quieres, te paso con una persona del equipo.",
        "Lo sentimos: su pedido {order} debía llegar el {date} y aún no consta como entregado. "
        "Ya lo estamos revisando. Si lo desea, le paso con una persona del equipo.",
    ),
    "upd_refund": (
        "Te hemos devuelto {amount} del pedido {order}.",
        "Le hemos devuelto {amount} del pedido {order}.",
    ),
    "upd_refund_when": (" Lo verás en tu cuenta hacia el {date}.", " Lo verá en su cuenta hacia el {date}."),
    "upd_return_received": (
        "Hemos recibido tu devolución {ret} del pedido {order}. Te avisaremos cuando hagamos el reembolso.",
        "Hemos recibido su devolución {ret} del pedido {order}. Le avisaremos cuando hagamos el reembolso.",
    ),
    "upd_tracking": (" Seguimiento con {carrier}: {tracking}.", " Seguimiento con {carrier}: {tracking}."),
    "upd_tracking_url": (" {url}", " {url}"),
    "btn_where_now": ("¿Dónde está ahora?", "¿Dónde está ahora?"),
    "btn_refund_when": ("¿Cuándo llega mi reembolso?", "¿Cuándo llega mi reembolso?"),
    "btn_updates_off": ("No quiero avisos", "No quiero avisos"),
    # Telegram's /silencio and /avisos (handoff/channels/telegram/consent.py)
    "tg_updates_off": (
        "Hecho: no te enviaré más avisos de tus pedidos. Si cambias de idea, escribe /avisos.",
        "Hecho: no le enviaré más avisos de sus pedidos. Si cambia de idea, escriba /avisos.",
    ),
    "tg_updates_on": (
        "Hecho: te avisaré aquí cuando tu pedido salga, se retrase o llegue. Para dejar de recibirlos, "
        "escribe /silencio.",
        "Hecho: le avisaré aquí cuando su pedido salga, se retrase o llegue. Para dejar de recibirlos, "
        "escriba /silencio.",
    ),
    "btn_leave_queue": ("Volver al asistente", "Volver al asistente"),
    "btn_keep_waiting": ("Seguir esperando", "Seguir esperando"),
    # the demo shop page (handoff/static/index.html, ``{{t:key}}``)
    "page_help": (
        "Nuestro asistente te ayuda al momento; si lo prefieres, te pasa con una persona.",
        "Nuestro asistente le ayuda al momento; si lo prefiere, le pasa con una persona.",
    ),
    "page_returns": (
        "Desde la entrega, sin preguntas (salvo ofertas finales).",
        "Desde la entrega, sin preguntas (salvo ofertas finales).",
    ),
    # its "logged-in" demo bar (HANDOFF_DEMO_IDENTITY=on); the page fills ``{email}``
    "page_demo_login": (
        "entra como un cliente de la tienda para que el chat sepa quién eres.",
        "entre como un cliente de la tienda para que el chat sepa quién es.",
    ),
    "page_demo_signed_in": ("has entrado como {email}.", "ha entrado como {email}."),
    "page_demo_bad_email": ("Ese correo no parece válido.", "Ese correo no parece válido."),
    # error details a shopper can read (handoff/frames.py, handoff/channels/web.py)
    "error_rate_limited": (
        "Vas demasiado rápido: espera unos segundos antes de enviar más mensajes.",
        "Va demasiado rápido: espere unos segundos antes de enviar más mensajes.",
    ),
    "error_message_too_long": (
        "Tu mensaje es demasiado largo (máximo {max} caracteres). Acórtalo o envíalo en varias partes.",
        "Su mensaje es demasiado largo (máximo {max} caracteres). Acórtelo o envíelo en varias partes.",
    ),
    "error_unavailable": (
        "No hemos podido guardar tu mensaje. Inténtalo de nuevo en un momento.",
        "No hemos podido guardar su mensaje. Inténtelo de nuevo en un momento.",
    ),
    "error_internal_error": (
        "Algo ha fallado al procesar tu mensaje. Inténtalo de nuevo en un momento.",
        "Algo ha fallado al procesar su mensaje. Inténtelo de nuevo en un momento.",
    ),
    # handoff notices, the same words on every channel (the ``text`` of the history's
    # ``events``; the widget's own strings say the same; Telegram sends "handoff_ended")
    "queued_notice": (
        "Te hemos puesto en la cola para hablar con una persona del equipo.",
        "Le hemos puesto en la cola para hablar con una persona del equipo.",
    ),
    "agent_joined": ("{agent} se ha unido a la conversación", "{agent} se ha unido a la conversación"),
    "handoff_ended": ("La conversación con {agent} ha terminado.", "La conversación con {agent} ha terminado."),
    "handoff_ended_team": ("La conversación con el equipo ha terminado.",
                           "La conversación con el equipo ha terminado."),
    # a file whose caption goes to the bot (Bridge._bot_turn): said before the bot's answer
    "attachment_kept_caption": (
        "He guardado tu archivo por si una persona del equipo necesita verlo.",
        "He guardado su archivo por si una persona del equipo necesita verlo.",
    ),
    # what the agents' queue shows when the shopper wrote no words (a command, a button)
    "preview_request_human": ("(pidió hablar con una persona)", "(pidió hablar con una persona)"),
    # -- Telegram (handoff/channels/telegram/) --
    "tg_help": (
        "Soy el asistente virtual de {store}. Puedo ayudarte a:\n"
        "• saber dónde está tu pedido y cuándo llega\n"
        "• cancelar un pedido o cambiar la dirección de envío\n"
        "• pedir una devolución y consultar un reembolso\n"
        "• resolver dudas sobre pagos, envíos y facturas\n\n"
        "Comandos: /start para empezar, /ayuda para ver esto, /agente para hablar con una persona.\n"
        "Si me envías una foto o un documento (un producto dañado, un recibo), se lo pasaré a una "
        "persona del equipo.",
        "Soy el asistente virtual de {store}. Puedo ayudarle a:\n"
        "• saber dónde está su pedido y cuándo llega\n"
        "• cancelar un pedido o cambiar la dirección de envío\n"
        "• pedir una devolución y consultar un reembolso\n"
        "• resolver dudas sobre pagos, envíos y facturas\n\n"
        "Comandos: /start para empezar, /ayuda para ver esto, /agente para hablar con una persona.\n"
        "Si me envía una foto o un documento (un producto dañado, un recibo), se lo pasaré a una "
        "persona del equipo.",
    ),
    "tg_contact_prompt": (
        "Si ya eres cliente, pulsa «Compartir mi teléfono» y te identificaré sin pedirte el email. Es opcional.",
        "Si ya es cliente, pulse «Compartir mi teléfono» y le identificaré sin pedirle el email. Es opcional.",
    ),
    "tg_contact_not_own": (
        "Solo puedo identificarte con tu propio número. Usa el botón «Compartir mi teléfono» en lugar de "
        "reenviar un contacto.",
        "Solo puedo identificarle con su propio número. Utilice el botón «Compartir mi teléfono» en lugar de "
        "reenviar un contacto.",
    ),
    "tg_contact_verified": (
        "Gracias, {name}. Ya sé quién eres: para consultar cualquiera de tus pedidos solo necesitaré su número.",
        "Gracias, {name}. Ya sé quién es: para consultar cualquiera de sus pedidos solo necesitaré el número "
        "del pedido.",
    ),
    "tg_contact_unknown": (
        "No encuentro ningún cliente con ese teléfono. No pasa nada: cuando haga falta te pediré el número "
        "de pedido y el email de la compra.",
        "No encuentro ningún cliente con ese teléfono. No pasa nada: cuando haga falta le pediré el número "
        "de pedido y el email de la compra.",
    ),
    "tg_contact_store_down": (
        "Ahora mismo no puedo comprobar tu teléfono. Inténtalo de nuevo en unos minutos.",
        "Ahora mismo no puedo comprobar su teléfono. Inténtelo de nuevo en unos minutos.",
    ),
    "tg_group": (
        "Hola. Solo atiendo conversaciones privadas para proteger tus datos: escríbeme directamente a mí "
        "y te ayudo.",
        "Hola. Solo atiendo conversaciones privadas para proteger sus datos: escríbame directamente a mí "
        "y le ayudo.",
    ),
    "tg_unsupported": (
        "Perdona, no puedo entender ese tipo de mensaje (pegatinas, audios, ubicaciones...). Escríbeme tu "
        "consulta con palabras, o envíame una foto o un documento si quieres enseñarnos algo.",
        "Disculpe, no puedo entender ese tipo de mensaje (pegatinas, audios, ubicaciones...). Escríbame su "
        "consulta con palabras, o envíeme una foto o un documento si desea enseñarnos algo.",
    ),
    "tg_unknown_command": ("No conozco ese comando. ", "No conozco ese comando. "),
    # a file from the web widget the bridge cannot take (handoff/channels/web.py)
    "web_attachment_type": (
        "Solo puedo recibir fotos (JPG, PNG o WebP) y documentos PDF. ¿Puedes enviarlo en uno de esos formatos?",
        "Solo puedo recibir fotos (JPG, PNG o WebP) y documentos PDF. ¿Puede enviarlo en uno de esos formatos?",
    ),
    "web_attachment_unreadable": (
        "No he podido leer ese archivo. ¿Puedes intentarlo de nuevo?",
        "No he podido leer ese archivo. ¿Puede intentarlo de nuevo?",
    ),
    "tg_too_big": (
        "Ese archivo es demasiado grande: el máximo es {mb} MB. ¿Puedes enviar uno más pequeño?",
        "Ese archivo es demasiado grande: el máximo es {mb} MB. ¿Puede enviar uno más pequeño?",
    ),
    "tg_download_failed": (
        "No he podido recibir tu archivo. ¿Puedes enviarlo otra vez?",
        "No he podido recibir su archivo. ¿Puede enviarlo otra vez?",
    ),
    "tg_not_processed": (
        "Perdona, no he podido procesar tu mensaje. ¿Puedes enviarlo otra vez en un momento?",
        "Disculpe, no he podido procesar su mensaje. ¿Puede enviarlo otra vez en un momento?",
    ),
    "tg_button_gone": ("Este botón ya no está disponible.", "Este botón ya no está disponible."),
    "tg_step_over": ("Ese paso ya ha terminado.", "Ese paso ya ha terminado."),
    # no longer shown (a rating is thanked once, by "csat_thanks" in the chat); kept: never renamed
    "tg_csat_not_pending": ("Ya habías valorado esta conversación.", "Ya había valorado esta conversación."),
    # queued (Telegram): the widget's notice ("queued_notice") plus the place; never "el siguiente"
    "tg_queued": (
        "Te hemos puesto en la cola para hablar con una persona del equipo. Tienes delante {ahead}.",
        "Le hemos puesto en la cola para hablar con una persona del equipo. Tiene delante {ahead}.",
    ),
    "tg_queued_next": (
        "Te hemos puesto en la cola para hablar con una persona del equipo. Nadie va delante de ti: es tu "
        "turno en cuanto una persona del equipo quede libre.",
        "Le hemos puesto en la cola para hablar con una persona del equipo. Nadie va delante de usted: es su "
        "turno en cuanto una persona del equipo quede libre.",
    ),
    "tg_queued_wait": (" Espera estimada: {wait}.", " Espera estimada: {wait}."),
    "tg_assigned": (
        "{agent} te atiende ahora. Puedes escribirle aquí mismo.",
        "{agent} le atiende ahora. Puede escribirle aquí mismo.",
    ),
}

# Tú forms a text in usted must not contain (pronouns, possessives, the verb
# forms and imperatives these texts use): tests run every usted text through it.
TU_FORMS = re.compile(
    r"\b(te|tu|tus|ti|contigo|tuyo|tuya|eres|estás|tienes|quieres|puedes|vuelves|hables|has|habías|vas|"
    r"necesitas|dime|sabes|escribe|escríbeme|escríbenos|envíame|envíalo|acórtalo|inténtalo|valóralo|pulsa|usa|"
    r"déjanos|perdona|corrígelo|pregúntame|avisadme|prefieres|sigues|pierdes|díselo|escribirte|atenderte)\b",
    re.IGNORECASE,
)


# An amount and its currency ("69,00 €", "€ 5", "12 euros"): the space between
# them becomes a no-break space, so a chat never shows "69,00" and "€" on two
# lines (the widget applies the same rule to what it renders).
_AMOUNT = re.compile(r"(\d)[ \u202f](€|EUR\b|euros?\b|\$|USD\b)|(€|\$)[ \u202f](\d)")


# What a shopper's file is taken for, by the case's handoff reason: a payment's
# receipt or screenshot of the charge, a damaged or wrong item's state; else neutral.
ATTACHMENT_TOPICS = {"payment_problem": "payment", "damaged_or_wrong_item": "damaged"}


def attachment_topic(reason: Optional[str]) -> Optional[str]:
    """``"payment"``, ``"damaged"`` or None (neutral) for a case's handoff reason."""
    return ATTACHMENT_TOPICS.get(reason or "")


def wait_text(seconds: Optional[float]) -> str:
    """A wait estimate in words, with number agreement: "menos de un minuto",
    "un minuto", "unos 5 minutos", "una hora y 1 minuto", "unas 2 horas",
    "más de un día"; "" when unknown. The same words on every channel (the
    queued frame's ``wait_text``; the widget's fallback mirrors it)."""
    if seconds is None:
        return ""
    if seconds < 60:
        return "menos de un minuto"
    minutes = int(round(seconds / 60))
    if minutes < 60:
        return "un minuto" if minutes == 1 else f"unos {minutes} minutos"
    hours, rest = divmod(minutes, 60)
    if hours >= 24:
        days = hours // 24
        return "más de un día" if days == 1 else f"más de {days} días"
    text = "una hora" if hours == 1 else f"unas {hours} horas"
    if rest:
        text += " y 1 minuto" if rest == 1 else f" y {rest} minutos"
    return text


def keep_amounts(text: str) -> str:
    """``text`` with every amount kept on one line (no-break spaces)."""
    return _AMOUNT.sub(lambda m: f"{m[1]}\u00a0{m[2]}" if m[1] else f"{m[3]}\u00a0{m[4]}", text)


class Texts:
    """The texts of one voice: ``texts.get("resumed")`` or ``texts["resumed"]``."""

    def __init__(self, voice: str) -> None:
        if voice not in VOICES:
            raise ValueError(f"voice must be one of {VOICES}, not {voice!r}")
        self.voice = voice
        index = VOICES.index(voice)
        self._texts: Dict[str, str] = {key: pair[index] for key, pair in _TEXTS.items()}

    def __getitem__(self, key: str) -> str:
        return self._texts[key]

    def get(self, key: str, **values: object) -> str:
        """The text, with its ``{placeholders}`` filled when values are given."""
        text = self._texts[key]
        return text.format(**values) if values else text

    def keys(self) -> Tuple[str, ...]:
        return tuple(self._texts)


_CACHE: Dict[str, Texts] = {}


def texts_for(voice: str) -> Texts:
    """The shared ``Texts`` of a voice ("tu" or "usted")."""
    if voice not in _CACHE:
        _CACHE[voice] = Texts(voice)
    return _CACHE[voice]


TU = texts_for("tu")
