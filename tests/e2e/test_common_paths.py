"""Issue 9's examples from real traffic, on the real stack (Rasa and the
action server, as the bridge reaches them): out-of-scope questions get the
honest answer with the offer of a person (never a wrong FAQ or a complaint
handoff), and the in-scope ones that went wrong get the right answer."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import Shopper

pytestmark = pytest.mark.slow

FALLBACK = "no te he entendido"
OUT_OF_SCOPE = "Eso no lo sé"


@pytest.mark.parametrize("text", [
    "tienen tienda fisica?", "¿de qué material es la manta de lino?", "¿cuándo reponen la talla M del jersey?",
    "¿qué talla me pido si calzo un 38?", "¿están buscando personal?", "cuéntame un chiste",
])
def test_out_of_scope_gets_the_honest_answer_and_a_person_on_offer(shopper: Shopper, text: str) -> None:
    replies = shopper.say(text)
    body = " ".join(m.get("text", "") for m in replies)
    assert OUT_OF_SCOPE in body, body
    assert any(b["payload"] == "/request_human" for m in replies for b in m.get("buttons", []))
    assert not any("custom" in m for m in replies)  # nobody is called for it


@pytest.mark.parametrize("text, expected", [
    ("cuantos dias tengo para regresar un producto?", "días desde la entrega para devolver"),
    ("cuanto cuesta el envio a Argentina?", "El envío internacional cuesta"),
    ("puedo pagar a plazos?", "No ofrecemos pago a plazos"),
    ("gracias, nada mas. chau!", "Hasta pronto"),
])
def test_the_in_scope_questions_that_went_wrong(shopper: Shopper, text: str, expected: str) -> None:
    body = shopper.texts(text)
    assert expected in body and FALLBACK not in body, body


def test_a_payment_follow_up_and_emoji_answers(shopper: Shopper) -> None:
    assert "Bizum" in shopper.texts("¿qué formas de pago aceptan?")
    follow_up = shopper.texts("y con bizum?")
    assert "Bizum" in follow_up and FALLBACK not in follow_up
    assert FALLBACK not in shopper.texts("👍")


def test_shipping_to_a_country_the_store_does_not_serve_is_not_a_yes(shopper: Shopper) -> None:
    """"¿hacen envíos a Uruguay?" got "Sí, enviamos a Portugal, …" (Uruguay is not on the list)."""
    body = shopper.texts("hacen envios a uruguay?")
    assert not body.startswith("Sí") and "no podemos enviar" in body and "Uruguay" not in body, body
