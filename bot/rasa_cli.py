"""Rasa's own command line (``python -m bot.rasa_cli shell|train ...``) with
the project's validator of action-server answers and event-type table
built once (bot/rasa_server.py), and without one false warning.

Why: ``make shell`` runs Rasa's server in its own process through this
command line; it should answer as fast as ``make run`` does. Rasa's recipe
validator looks for the class ResponseSelector, so training with FAQ answers
picked by ``bot.nlu.LinearIntentClassifier`` warned that the FAQ data had no
response selector; that warning is added to Rasa's own expected warnings.
"""
from __future__ import annotations

from bot.rasa_server import resolve_event_types_once, start_sessions_with_the_policy, validate_action_results_once

FALSE_WARNING = "You have defined training data with examples for training a response selector"


def main() -> None:
    validate_action_results_once()
    resolve_event_types_once()
    start_sessions_with_the_policy()
    from rasa.__main__ import main as rasa_main
    from rasa.utils.common import EXPECTED_WARNINGS

    EXPECTED_WARNINGS.append((UserWarning, FALSE_WARNING))

    rasa_main()


if __name__ == "__main__":
    main()
