"""Rasa's own command line (``python -m bot.rasa_cli shell ...``) with the
project's validator of action-server answers built once (bot/rasa_server.py).

Why: ``make shell`` runs Rasa's server in its own process through this
command line; it should answer as fast as ``make run`` does.
"""
from __future__ import annotations

from bot.rasa_server import validate_action_results_once


def main() -> None:
    validate_action_results_once()
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
