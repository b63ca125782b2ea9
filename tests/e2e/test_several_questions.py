"""Messages that are more than one plain question, on the real stack: two
FAQ questions get both answers in the order asked; a long story with an
order number inside goes to its request, not to the fallback."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import Shopper

pytestmark = pytest.mark.slow
FALLBACK = "no te he entendido"
SHIPPING_TIME = "días laborables"
SHIPPING_COST = "el envío estándar cuesta"


def test_two_questions_get_both_answers_in_order(shopper: Shopper) -> None:
    texts = [m.get("text", "") for m in shopper.say("cuanto tarda el envio y cuanto cuesta?")]
    time_at = next(i for i, t in enumerate(texts) if SHIPPING_TIME in t)
    cost_at = next(i for i, t in enumerate(texts) if SHIPPING_COST in t)
    assert time_at < cost_at, texts
    assert not any(FALLBACK in t for t in texts)


def test_the_other_order_and_other_topics(shopper: Shopper) -> None:
    texts = [m.get("text", "") for m in shopper.say("¿aceptan paypal? y ¿cuántos días tengo para devolver?")]
    assert "PayPal" in texts[0] and "días desde la entrega para devolver" in texts[1], texts


def test_one_question_gets_one_answer(shopper: Shopper) -> None:
    texts = [m.get("text", "") for m in shopper.say("¿cuánto cuesta el envío a Baleares y Canarias?")]
    # one question about two places of one zone: one answer naming both, with the IGIC note for Canarias
    assert len(texts) == 1 and texts[0].startswith("A Baleares y Canarias el envío cuesta"), texts
    assert "IGIC" in texts[0], texts


def test_after_two_answers_the_bot_listens(shopper: Shopper) -> None:
    shopper.say("cuanto tarda el envio y cuanto cuesta?")
    follow = shopper.texts("gracias!")
    assert FALLBACK not in follow and SHIPPING_COST not in follow


LONG_STORY = (
    "Hola buenas tardes, les escribo porque hice una compra hace ya casi tres semanas para el cumpleaños de mi "
    "hija, era una mochila y unas zapatillas de deporte, y la verdad es que todavía no me ha llegado nada a "
    "casa. El número de pedido es el {order}. He mirado varias veces el seguimiento en la web del transportista "
    "pero no pone nada nuevo desde hace días y ya no sé muy bien qué hacer ni a quién preguntar, porque en la "
    "tienda del barrio me dijeron que eso lo llevan ustedes directamente. Me hacía mucha ilusión que llegara a "
    "tiempo para la fiesta, que es este sábado, y mi hija está preguntando cada día. ¿Me podéis decir algo, "
    "aunque sea una fecha aproximada? Si hace falta que os mande algún dato más, decídmelo y os lo paso. "
    "Os cuento también que es la primera vez que compro en vuestra tienda, me la recomendó una amiga que siempre "
    "os compra la ropa de los niños y está encantada, así que no quiero pensar mal; seguro que ha sido un "
    "despiste del transporte o algo parecido. Estoy en casa casi todas las tardes a partir de las cinco, por si "
    "sirve de algo para la entrega, y si no también lo pueden dejar en la portería con el conserje. "
    "Muchas gracias de antemano por la ayuda y un saludo muy cordial desde Zaragoza."
)


def test_a_long_story_with_an_order_number_goes_to_its_request(shopper: Shopper) -> None:
    text = LONG_STORY.format(order="482913")
    assert len(text) > 1100
    body = shopper.texts(text)
    assert FALLBACK not in body and "email" in body.lower(), body  # verification of 482913 starts


CHATTY_CANCEL = (
    "Buenos días. Ayer estuve toda la tarde mirando vuestra web con mi marido porque queremos renovar la ropa de "
    "cama de la casa del pueblo, que este invierno va a hacer mucho frío y las mantas viejas ya no abrigan nada. "
    "Vimos unas cuantas cosas muy bonitas y al final nos decidimos por un edredón nórdico. El caso es que después "
    "de pagar me di cuenta de que había elegido la talla de 135 y la cama es de 150, así que quiero cancelar el "
    "pedido {order} antes de que lo enviéis. Luego ya haré otro con la medida buena. Gracias y un saludo."
)


def test_a_chatty_message_is_taken_by_its_request_not_its_chatter(shopper: Shopper) -> None:
    # The whole text reads as out of scope (bedding, the weather); one sentence cancels an order.
    body = shopper.texts(CHATTY_CANCEL.format(order="551203"))
    assert "Eso no lo sé" not in body and FALLBACK not in body, body
    assert "email" in body.lower(), body  # verification of 551203 starts, for the cancellation
    assert shopper.tracker()["latest_message"]["intent"]["name"] == "order_cancel"
