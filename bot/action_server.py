"""Starts rasa_sdk's action server, accepting calls only from Rasa.

Why not ``python -m rasa_sdk``: it answers anyone who can reach its port
(and with CORS ``*``, any web page). Here every route but ``GET /health``
needs ``Authorization: Bearer <ACTION_SERVER_TOKEN>``, the header Rasa sends
(endpoints.yml, ``action_endpoint.headers``); the token comes from the
environment only (``python -m bot`` makes a random one per run). It binds
127.0.0.1 on ACTIONS_PORT, without CORS.
"""
from __future__ import annotations

import hmac
import logging
from typing import Optional

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.library_noise import honour_warning_options, quiet_action_registrations
from bot.settings import Settings

logger = logging.getLogger(__name__)
OPEN_PATHS = frozenset({"/health"})


def token_ok(header: str, token: str) -> bool:
    """Whether an Authorization header carries ``token`` (constant time)."""
    if not token or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer "):].strip().encode("utf-8"), token.encode("utf-8"))


def main() -> None:
    honour_warning_options()  # before rasa_sdk imports sanic_cors
    from rasa_sdk import utils
    from rasa_sdk.endpoint import create_app

    settings = Settings.from_env()
    utils.configure_colored_logging(settings.log_level)
    utils.update_sanic_log_level()
    quiet_action_registrations(settings.log_level)
    app = create_app("actions", cors_origins=None)
    token = settings.action_server_token

    @app.middleware("request")
    async def require_token(request: Request) -> Optional[HTTPResponse]:
        if request.path in OPEN_PATHS or token_ok(request.headers.get("Authorization", ""), token):
            return None
        logger.warning("action_call_refused")
        return response.json({"error": "unauthorized"}, status=401)

    logger.info("Action server on http://127.0.0.1:%s (token required)", settings.actions_port)
    app.run("127.0.0.1", settings.actions_port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
