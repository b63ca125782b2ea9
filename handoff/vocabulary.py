"""Every code the agents' case card shows, in Spanish: one mapping module.

The bot, the store and the bridge speak in codes (``order_overdue``,
``in_return``, ``pending``, ``request_human``, ``True``); agents read
Spanish. The case card (handoff/casecard.py) and the customer's earlier
conversations carry a ``*_text`` (or ``label``) next to each code, taken from
here, and the console (handoff/static/agent.js) prints only those texts.
A code this module does not know gets its kind's generic Spanish label
(``Otro estado``, ``Otra intención``...), never the code itself, so a new
status in the store shows up as "Otro estado" until it is named here.

Pure: no I/O, no Rasa, no store.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Dict, List, Mapping, Optional

# kind -> code -> Spanish
VOCABULARY: Dict[str, Dict[str, str]] = {
    "reason": {
        "customer_request": "Pide hablar con una persona",
        "complaint": "Queja",
        "fallback": "El asistente no le entendió",
        "verification_failed": "No pudo verificar su pedido",
        "order_overdue": "Pedido retrasado",
        "order_late_not_shipped": "Pedido sin enviar y fuera de plazo",
        "refund_late": "Reembolso retrasado",
        "delivered_not_received": "Entregado pero no recibido",
        "damaged_or_wrong_item": "Producto dañado o equivocado",
        "payment_problem": "Problema con el pago",
        "return_ineligible": "Devolución no admitida",
        "address_change_after_shipping": "Cambio de dirección tras el envío",
        "address_change_zone": "Cambio de dirección a otra zona de envío",
        "invoice_fiscal_data": "Factura con datos fiscales",
        "store_unavailable": "El sistema de pedidos no respondía",
        "rasa_down": "El asistente no respondía",
        "frustration": "Cliente muy molesto",
    },
    "intent": {
        "greet": "Saluda",
        "goodbye": "Se despide",
        "thank": "Da las gracias",
        "affirm": "Dice que sí",
        "deny": "Dice que no",
        "bot_challenge": "Pregunta si habla con un bot",
        "help": "Pregunta qué puede hacer el asistente",
        "order_status": "Estado de un pedido",
        "order_not_received": "Pedido no recibido",
        "order_cancel": "Cancelar un pedido",
        "change_address": "Cambiar la dirección de envío",
        "return_request": "Devolver o cambiar un producto",
        "refund_status": "Estado de un reembolso",
        "damaged_or_wrong_item": "Producto dañado o equivocado",
        "payment_problem": "Problema con el pago",
        "invoice_request": "Pide una factura",
        "request_human": "Pide hablar con una persona",
        "complaint": "Queja",
        "inform": "Da datos (número de pedido, correo…)",
        "faq": "Pregunta frecuente",
        "out_of_scope": "Fuera de lo que atiende el asistente",
        "nlu_fallback": "Mensaje no entendido",
        "faq/contact_channels": "Pregunta frecuente: cómo contactar",
        "faq/discount_codes": "Pregunta frecuente: códigos de descuento",
        "faq/international_shipping": "Pregunta frecuente: envíos internacionales",
        "faq/opening_hours": "Pregunta frecuente: horario de atención",
        "faq/payment_methods": "Pregunta frecuente: formas de pago",
        "faq/return_policy": "Pregunta frecuente: política de devoluciones",
        "faq/shipping_cost": "Pregunta frecuente: coste del envío",
        "faq/shipping_time": "Pregunta frecuente: plazo de envío",
        "faq/warranty": "Pregunta frecuente: garantía",
    },
    # entities of the bot and the keys of a handoff's ``details``
    "field": {
        "order_id": "Número de pedido",
        "email": "Correo electrónico",
        "return_item": "Artículo que quiere devolver",
        "return_reason": "Motivo de la devolución",
        "handoff_reason": "Motivo del paso a una persona",
        "status": "Estado del pedido",
        "expected_delivery": "Entrega prevista",
        "delivered_at": "Entregado el",
        "description": "Descripción del cliente",
        "problem": "Tipo de problema",
        "verified": "Pedido verificado",
        "store_error": "Error de la tienda",
    },
    "problem": {
        "broken": "Roto o dañado",
        "wrong": "Producto equivocado",
        "missing": "Falta algo en el paquete",
        "payment": "Problema con el pago",
        "generic": "Otro problema",
    },
    "order_status": {
        "pending_payment": "Pendiente de pago",
        "processing": "En preparación",
        "shipped": "En camino",
        "out_for_delivery": "En reparto",
        "delivered": "Entregado",
        "cancelled": "Cancelado",
        "returned": "Devuelto",
    },
    "return_status": {
        "requested": "Solicitada",
        "received": "Recibida en el almacén",
        "refunded": "Reembolsada",
        "rejected": "Rechazada",
    },
    "return_kind": {"return": "Devolución", "exchange": "Cambio"},
    "refund_status": {
        "pending": "Pendiente",
        "processing": "En curso",
        "completed": "Completado",
    },
    # why an order cannot be returned (actions/returns.py ``ReturnEligibility.reason``)
    "return_block": {
        "not_delivered": "Todavía no se ha entregado",
        "window_expired": "Fuera del plazo de devolución",
        "final_sale": "Artículos de oferta final, sin devolución",
        "in_return": "Ya tiene una devolución en curso",
        "closed": "Pedido cerrado (cancelado o ya devuelto)",
    },
    "channel": {"web": "Web", "telegram": "Telegram"},
    "linked_by": {
        "order_email": "Número de pedido y correo",
        "telegram_phone": "Su teléfono de Telegram",
        "shop_identity": "Sesión iniciada en la tienda",
    },
    # how a handoff episode ended (handoff_episodes.outcome, resolution)
    "outcome": {
        "resolved": "Cerrada: resuelta",
        "unresolved": "Cerrada: sin resolver",
        "closed": "Cerrada",
        "withdrawn": "El cliente dejó la cola",
        "abandoned": "Abandonó el chat en la cola",
        "queued": "En cola ahora",
        "agent": "Atendiéndose ahora",
        "bot_only": "Solo con el asistente",
    },
    "state": {"bot": "Con el asistente", "queued": "En cola", "agent": "Con una persona"},
    # the order updates told to the customer (handoff/shop/notify.py), on the case card
    "notification_topic": {
        "order.shipped": "Pedido enviado",
        "order.out_for_delivery": "En reparto",
        "order.delivered": "Entregado",
        "order.delayed": "Retraso avisado por la tienda",
        "order.late": "Retraso detectado",
        "refund.issued": "Reembolso hecho",
        "return.received": "Devolución recibida",
    },
    "notification_state": {
        "pending": "Pendiente",
        "queued": "Enviándose",
        "sent": "Enviado",
        "skipped": "No enviado",
        "failed": "No se pudo enviar",
    },
    "notification_reason": {
        "off": "el cliente desactivó los avisos",
        "blocked": "el cliente bloqueó el bot",
        "no_consent": "el chat no inició el bot",
        "quiet_hours": "horas sin avisos",
        "no_channel": "Telegram no está activo",
    },
}

GENERIC: Dict[str, str] = {
    "reason": "Otro motivo",
    "intent": "Otra intención",
    "field": "Otro dato",
    "problem": "Otro problema",
    "order_status": "Otro estado",
    "return_status": "Otro estado",
    "return_kind": "Otro trámite",
    "refund_status": "Otro estado",
    "return_block": "Otro motivo",
    "channel": "Otro canal",
    "linked_by": "Otra verificación",
    "outcome": "Otro resultado",
    "state": "Otro estado",
    "notification_topic": "Otro aviso",
    "notification_state": "Otro estado",
    "notification_reason": "otro motivo",
}

# details whose values are codes of a kind of their own
VALUE_KINDS: Dict[str, str] = {"problem": "problem", "status": "order_status", "handoff_reason": "reason"}
DATE_FIELDS = frozenset({"expected_delivery", "delivered_at"})
# what looks like a code, not like words a person wrote (``in_return``, ``rasa_down``)
CODE = re.compile(r"^[a-z0-9]+(?:[_/][a-z0-9]+)+$")
YES, NO = "Sí", "No"


def label(kind: str, code: Any) -> str:
    """The Spanish for ``code`` of ``kind``; the kind's generic label when
    unknown (never the code)."""
    known = VOCABULARY.get(kind, {})
    if isinstance(code, str) and code in known:
        return known[code]
    if kind == "intent" and isinstance(code, str) and code.startswith("faq/"):
        return known["faq"]
    return GENERIC.get(kind, "Otro")


def yes_no(value: Any) -> str:
    return YES if value else NO


def date_text(value: Any) -> Optional[str]:
    """``2025-11-24`` or an ISO time as ``24/11/2025``; None if not a date."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%d/%m/%Y")
        except ValueError:
            return None
    return None


def value_text(key: str, value: Any) -> Optional[str]:
    """A detail's or entity's value as an agent reads it; None: nothing to show."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return yes_no(value)
    if key in VALUE_KINDS:
        return label(VALUE_KINDS[key], value)
    if key in DATE_FIELDS:
        return date_text(value) or "Fecha no válida"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return "Valor interno sin traducir" if key not in VOCABULARY["field"] and CODE.match(value) else value
    if isinstance(value, (list, tuple)):
        parts = [value_text(key, v) for v in value]
        return ", ".join(p for p in parts if p) or None
    return "Datos adicionales"


def fields_list(values: Optional[Mapping[str, Any]]) -> List[Dict[str, str]]:
    """A dict of codes (handoff details, entities) as ``[{"label", "value"}]``
    in Spanish, empty values left out."""
    shown: List[Dict[str, str]] = []
    for key, value in (values or {}).items():
        text = value_text(str(key), value)
        if text is not None:
            shown.append({"label": label("field", key), "value": text})
    return shown


def reason_text(code: Optional[str], payload_text: Optional[str] = None) -> Optional[str]:
    """A handoff reason as agents read it everywhere (queue, case card,
    reports): this vocabulary's words for a known code, else the text the
    handoff payload brought, else the generic label."""
    if not code:
        return payload_text
    if code in VOCABULARY["reason"]:
        return VOCABULARY["reason"][code]
    return payload_text or label("reason", code)
