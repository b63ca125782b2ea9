"""Rasa's own command line (``python -m bot.rasa_cli shell|train ...``) with
the project's patches of Rasa (bot/rasa_server.py ``apply_patches``: the
validator of action-server answers and event-type table built once, the
incremental state history), and without one false warning.

Why: ``make shell`` runs Rasa's server in its own process through this
command line; it should answer as fast as ``make run`` does. Rasa's recipe
validator looks for the class ResponseSelector, so training with FAQ answers
picked by ``bot.nlu.LinearIntentClassifier`` warned that the FAQ data had no
response selector; that warning is added to Rasa's own expected warnings.
"""
from __future__ import annotations

from bot.rasa_server import apply_patches
from bot.settings import Settings

FALSE_WARNING = "You have defined training data with examples for training a response selector"


def main() -> None:
    apply_patches(Settings.from_env().rasa_stores.turn_cache)
    from rasa.__main__ import main as rasa_main
    from rasa.utils.common import EXPECTED_WARNINGS

    EXPECTED_WARNINGS.append((UserWarning, FALSE_WARNING))

    rasa_main()


if __name__ == "__main__":
    main()
