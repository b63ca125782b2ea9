"""Starts the Rasa server with the API protected by JWT.

Why not ``rasa run`` on the command line: its ``--auth-token``/``--jwt-secret``
would sit in the process list; here the secret comes from the environment.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Text

from bot.settings import ROOT, Settings


def validate_action_results_once() -> None:
    """Make Rasa check each action-server answer with a validator built once.

    Why: Rasa 3.6's ``RemoteAction._validate_action_result`` calls
    ``jsonschema.validate``, which first re-checks the schema itself against
    the Draft 2020-12 meta-schema, on every custom-action call. Under load that
    was 43% of the Rasa server's CPU (docs/benchmarks.md). The replacement
    checks the same schema once, then validates each answer against it and
    raises the same ``ValidationError`` (``best_match``, as ``validate`` does)
    with Rasa's own hint appended. Limit: it replaces a Rasa method, so a Rasa
    upgrade must keep ``action_response_format_spec`` (tests/test_bot.py
    checks that an invalid answer is still refused).
    """
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)

    def _validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
        error = best_match(validator.iter_errors(result))
        if error is not None:
            error.message += (
                ". Failed to validate Action server response from API, make sure your response "
                f"from the Action endpoint is valid. For more information about the format visit "
                f"{DOCS_BASE_URL}/custom-actions"
            )
            raise error
        return True

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[assignment]


def resolve_event_types_once() -> None:
    """Make Rasa find an event's class by its name in a table built once.

    Why: Rasa 3.6's ``Event.resolve_by_type`` walks every Event subclass
    (``inspect.isabstract`` on each) for every event it deserialises, and the
    in-memory tracker store deserialises the whole conversation on every
    message: about 10% of the server's CPU per turn, more the longer the
    conversation (py-spy, docs/benchmarks.md). The table keeps the first class
    of each name in the same order as the walk; a name it lacks (a subclass
    defined later, "topic", an unknown name) goes to Rasa's own lookup, so
    defaults and errors are unchanged. Limit: like the validator above, it
    replaces a Rasa method (tests/test_bot.py checks the results agree).
    """
    from rasa.shared.core.events import Event
    from rasa.shared.utils.common import all_subclasses

    table: Dict[Text, Any] = {}
    for cls in all_subclasses(Event):
        table.setdefault(cls.type_name, cls)
    original = Event.resolve_by_type

    def resolve_by_type(type_name: Text, default: Any = None) -> Any:
        found = table.get(type_name)
        return found if found is not None else original(type_name, default)

    Event.resolve_by_type = staticmethod(resolve_by_type)  # type: ignore[assignment]


def main() -> None:
    from rasa.core.run import serve_application
    from rasa.core.utils import AvailableEndpoints

    settings = Settings.from_env()
    logging.basicConfig(level=settings.log_level)
    # As `rasa run` does: without it structlog prints Rasa's debug events,
    # slot values (emails, order numbers) included, at every level.
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.getLevelName(settings.log_level))
    validate_action_results_once()
    resolve_event_types_once()
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
