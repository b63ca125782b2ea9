"""The servers' start-up output: the interpreter's warning options hold
after Sanic is imported, and rasa_sdk's registration list stays at DEBUG."""
from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from bot.library_noise import quiet_action_registrations
from bot.settings import ROOT

IMPORT_NOISY = "import sanic_cors"  # sanic_cors calls distutils' LooseVersion at import: a DeprecationWarning


def _stderr(code: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("PYTHONWARNINGS", None)
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", code], cwd=str(ROOT), env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_sanic_s_import_overrides_the_interpreter_s_options_without_it() -> None:
    assert "DeprecationWarning" in _stderr(IMPORT_NOISY)  # what make run printed twenty times


def test_the_interpreter_s_options_are_applied_again_after_sanic() -> None:
    code = f"from bot.library_noise import honour_warning_options; honour_warning_options(); {IMPORT_NOISY}"
    assert _stderr(code) == ""


@pytest.mark.parametrize("level, expected", [("INFO", logging.WARNING), ("WARNING", logging.WARNING),
                                             ("DEBUG", logging.NOTSET)])
def test_action_registrations_show_only_at_debug(level: str, expected: int) -> None:
    logger = logging.getLogger("rasa_sdk.executor")
    before = logger.level
    try:
        logger.setLevel(logging.NOTSET)
        quiet_action_registrations(level)
        assert logger.level == expected
    finally:
        logger.setLevel(before)
