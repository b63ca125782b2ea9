"""Keep third-party libraries' start-up noise out of ``make run``'s output.

Why: ``make run`` exports ``PYTHONWARNINGS=ignore``, yet Sanic's app module
adds ``filterwarnings("once", category=DeprecationWarning)`` when it is
imported, in front of the interpreter's own options, so every server printed
about twenty deprecation warnings of its libraries (distutils, pkg_resources,
pyparsing, click) before "Listo."; and rasa_sdk logs each of its 30 actions'
registration at INFO. Neither tells an operator anything.

Limits: only the options given by ``-W`` / ``PYTHONWARNINGS`` are put back
(nothing set: Python's defaults, Sanic's filter included); the registration
lines still show at DEBUG.
"""
from __future__ import annotations

import logging
import sys
import warnings


def honour_warning_options() -> None:
    """Import Sanic, then apply the interpreter's warning options again, so
    that they stand in front of the filter its import added (the same parser
    Python itself runs at start-up for ``-W`` and ``PYTHONWARNINGS``)."""
    import sanic.app  # noqa: F401  the import that adds the filter

    process = getattr(warnings, "_processoptions", None)
    if process is not None and sys.warnoptions:
        process(sys.warnoptions)


def quiet_action_registrations(level: str) -> None:
    """rasa_sdk's executor at WARNING unless the log level asks for DEBUG."""
    if logging.getLevelName(level) != logging.DEBUG:
        logging.getLogger("rasa_sdk.executor").setLevel(logging.WARNING)
