"""A greeting mid-conversation ("¿sigues ahí?") is answered as one, not with
the introduction again; the first one still introduces the bot."""
from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.chitchat import ActionGreet
from tests.actions.conftest import make_tracker, responses

EARLIER = [
    {"event": "session_started"},
    {"event": "user", "text": "donde esta mi pedido", "parse_data": {"intent": {"name": "order_status"}}},
    {"event": "bot", "text": "¿Me dices el número de pedido?", "metadata": {"utter_action": "utter_ask_order_id"}},
    {"event": "action", "name": "action_listen"},
]


@pytest.mark.asyncio
@pytest.mark.parametrize("events, loop, expected", [
    ([{"event": "session_started"}], None, "utter_greet"),
    # a silent message for the bridge is no word of the bot's
    ([{"event": "session_started"}, {"event": "bot", "data": {"custom": {"customer": {}}}}], None, "utter_greet"),
    (EARLIER, "order_status_form", "utter_still_here"),  # the form's question follows
    (EARLIER, None, "utter_still_here_what_else"),
])
async def test_a_greeting_after_the_bot_spoke_says_it_is_still_there(domain, events, loop, expected) -> None:
    dispatcher = CollectingDispatcher()
    await ActionGreet().run(dispatcher, make_tracker(intent="greet", text="sigues ahi?", events=events,
                                                     active_loop=loop), domain)
    assert responses(dispatcher) == [expected]
