"""Starts the Rasa server with the API protected by JWT.

Why not ``rasa run`` on the command line: its ``--auth-token``/``--jwt-secret``
would sit in the process list; here the secret comes from the environment.
"""
from __future__ import annotations

import logging

from bot.settings import ROOT, Settings


def main() -> None:
    from rasa.core.run import serve_application
    from rasa.core.utils import AvailableEndpoints

    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level)
    serve_application(
        model_path=str(settings.model_path),
        interface=settings.rasa_host,
        port=settings.rasa_port,
        credentials=str(ROOT / "credentials.yml"),
        endpoints=AvailableEndpoints.read_endpoints(str(ROOT / "endpoints.yml")),
        enable_api=True,
        jwt_secret=settings.rasa_jwt_secret,
        jwt_method="HS256",
    )


if __name__ == "__main__":
    main()
