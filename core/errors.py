"""The assistant's domain errors. Each carries the response (a domain.yml
``utter_*`` name, so it follows the brand voice) the shopper gets, and the
variables that response needs. Raise them with ``raise ... from exc``."""
from __future__ import annotations

from typing import Any, Dict


class AssistantError(Exception):
    """Base class: ``response`` is what the shopper reads."""

    response = "utter_default"

    def __init__(self, message: str = "", **variables: Any) -> None:
        super().__init__(message or self.__class__.__name__)
        self.variables: Dict[str, Any] = variables


class InvalidOrderNumber(AssistantError):
    """The text holds no 6-digit order number."""

    response = "utter_invalid_order_id"


class InvalidEmail(AssistantError):
    response = "utter_invalid_email"


class OrderNotVerified(AssistantError):
    """Unknown number or email mismatch: deliberately the same answer for
    both, so nobody learns whether an order exists."""

    response = "utter_order_not_verified"

    def __init__(self, message: str = "", attempts_left: int = 0, **variables: Any) -> None:
        super().__init__(message, attempts_left=attempts_left, **variables)
        if attempts_left == 1:
            # "te queda 1 intento", not "te quedan 1 intentos"
            self.response = "utter_order_not_verified_last_try"


class InvalidVerificationCorrection(AssistantError):
    """After a failed try, the answer holds neither an order number nor an email."""

    response = "utter_invalid_verification_correction"


class SameVerificationData(AssistantError):
    """After a failed try, the shopper wrote the same number and email again."""

    response = "utter_verification_same_data"


class VerificationLocked(AssistantError):
    """Too many failed tries in this conversation: offer a person."""

    response = "utter_verification_locked"


class StoreDown(AssistantError):
    """The store cannot be reached; the shopper is offered a person."""

    response = "utter_store_unavailable"


class InvalidPostalCode(AssistantError):
    response = "utter_invalid_postal_code"


class InvalidStreet(AssistantError):
    response = "utter_invalid_street"


class InvalidCity(AssistantError):
    response = "utter_invalid_city"


class InvalidReturnItems(AssistantError):
    response = "utter_invalid_return_items"


class InvalidExchangeVariant(AssistantError):
    """No size or colour recognised in the answer (or a relative one, "una
    talla más", for an item whose size the shop's data does not say)."""

    response = "utter_invalid_exchange_variant"


class InvalidReturnQuantity(AssistantError):
    """The answer to «¿Cuántas unidades…?» is no number from 1 to the units
    the shopper has (``available``)."""

    response = "utter_invalid_return_quantity"
