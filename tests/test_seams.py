"""The seams between the parts: core/ (store, policy, business rules) imports
neither Rasa nor the action layer, and the bridge (handoff/) never imports
actions/, so a bridge process loads no Rasa SDK and no Sanic.

Checked two ways: statically (every import statement of the package's
files, lazy ones inside functions included) and by importing the bridge's
entry points in a fresh interpreter and looking at ``sys.modules``.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Iterator, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
RASA_WORLD = ("rasa", "rasa_sdk", "sanic", "tensorflow", "actions", "bot")


def imported_modules(package: str) -> Iterator[Tuple[Path, int, str]]:
    """(file, line, module) for every import statement under ``package``."""
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, node.lineno, alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield path, node.lineno, node.module


def top(module: str) -> str:
    return module.split(".")[0]


def test_core_imports_neither_rasa_nor_the_action_layer() -> None:
    found = [f"{p.relative_to(ROOT)}:{line} {m}" for p, line, m in imported_modules("core") if top(m) in RASA_WORLD + ("handoff",)]
    assert not found, found


@pytest.mark.parametrize("package", ["handoff"])
def test_the_bridge_never_imports_actions_or_rasa(package: str) -> None:
    found = [f"{p.relative_to(ROOT)}:{line} {m}" for p, line, m in imported_modules(package)
             if top(m) in ("actions", "rasa", "rasa_sdk", "sanic")]
    assert not found, found


def test_a_bridge_process_loads_no_rasa() -> None:
    """What a bridge process really loads, start-up module and channels included."""
    code = (
        "import json, sys\n"
        "import handoff.__main__, handoff.server, handoff.channels.telegram, handoff.casecard\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in %r)))\n" % (RASA_WORLD,)
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], loaded
