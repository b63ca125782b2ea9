"""Spanish renderings of dates, money, items and statuses for the answers.

Why here and not with locale: the server's locale may not have es_ES
installed; these few words are all the bot needs.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Iterable, Mapping, Optional, Union

from core.policy import load_policy
from core.promises import refund_is_late
from core.store import OrderItem, Refund

WEEKDAYS = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
MONTHS = (
    "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio",
    "agosto", "septiembre", "octubre", "noviembre", "diciembre",
)
STATUS_LABELS = {
    "pending_payment": "pendiente de pago",
    "processing": "en preparación",
    "shipped": "en camino",
    "out_for_delivery": "en reparto",
    "delivered": "entregado",
    "cancelled": "cancelado",
    "returned": "devuelto",
}
REFUND_STATUS_LABELS = {
    "pending": "pendiente",
    "processing": "en curso",
    "completed": "completado",
}
RETURN_REASON_LABELS = {
    "talla": "la talla no es la correcta",
    "no_esperado": "no es lo que esperaba",
    "ya_no_lo_quiero": "ya no lo quiere",
    "tarde": "llegó tarde",
    "otro": "otro motivo",
}


def date_es(value: Union[dt.date, dt.datetime], today: Optional[dt.date] = None) -> str:
    """'jueves 26 de noviembre' (the year only when it is not the store's
    current year: ``today`` defaults to the store's today)."""
    day = value.date() if isinstance(value, dt.datetime) else value
    text = f"{WEEKDAYS[day.weekday()]} {day.day} de {MONTHS[day.month - 1]}"
    if day.year != (today or load_policy().today()).year:
        text += f" de {day.year}"
    return text


def money_es(amount: Union[Decimal, float, int], currency: str = "€") -> str:
    """'1.234,50 €'."""
    quantized = Decimal(str(amount)).quantize(Decimal("0.01"))
    whole, frac = f"{quantized:,.2f}".split(".")
    return f"{whole.replace(',', '.')},{frac} {currency}"


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def items_es(items: Iterable[OrderItem], numbered: bool = False, units: Optional[Mapping[int, int]] = None) -> str:
    """'• 3 × Camiseta …'; with ``units`` (per item id) part of a line reads
    '• 1 de 3 × Camiseta …' (a return of one of three)."""
    lines = []
    for index, item in enumerate(items, start=1):
        prefix = f"{index}. " if numbered else "• "
        n = (units or {}).get(item.id, item.quantity)
        count = f"{n} de {item.quantity}" if n != item.quantity else str(n)
        lines.append(f"{prefix}{count} × {item.name}")
    return "\n".join(lines) if lines else "(sin artículos)"


def refund_line(refund: Refund, currency: str = "€", returned: str = "") -> str:
    """One refund with its date: paid on, due by, or (its date past) late
    since; never a past date as a promise (``core.promises``). ``returned``:
    what its return took back ('1 de 3 × Camiseta …')."""
    label = REFUND_STATUS_LABELS.get(refund.status, refund.status)
    what = f": {returned}" if returned else ""
    origin = f" (devolución {refund.return_number}{what})" if refund.return_number else ""
    head = f"• {money_es(refund.amount, currency)}{origin}: {label}"
    if refund.status == "completed" and refund.completed_at is not None:
        return f"{head}, abonado el {date_es(refund.completed_at)}"
    if refund_is_late(refund, load_policy()):
        return f"{head}, con retraso: tenía que haber llegado el {date_es(refund.expected_at)}"
    return f"{head}, llegará como tarde el {date_es(refund.expected_at)}"


def refund_summary(refunds: Iterable[Refund], currency: str = "€") -> str:
    """One sentence about an order's refunds, for cancelled/returned orders.
    Impersonal on purpose: it is read in both brand voices."""
    refunds = list(refunds)
    if not refunds:
        return "No hay ningún reembolso pendiente."
    return "Reembolsos:\n" + "\n".join(refund_line(r, currency) for r in refunds)


def first_name(full_name: str) -> str:
    return full_name.split()[0] if full_name.strip() else ""
