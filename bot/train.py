"""Train the model when (and only when) config, domain, training data or the
code of our own trained components (bot/nlu.py, bot/policies.py) changed.

Why a content hash and not file times: a fresh clone gives every file a new
time, and an edit made while training runs must still trigger the next
training. The hash of the inputs is taken before training and stored beside
the model (models/assistant.inputs.sha256) once training succeeds.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterable, List

from bot.settings import ROOT

MODEL_NAME = "assistant"
DATA_DIRS = ("data/nlu", "data/rules", "data/stories")
# Our pipeline components: what they fit (e.g. the lookup placeholders) is in the model.
COMPONENT_CODE = ("bot/nlu.py", "bot/policies.py")


def training_inputs(root: Path = ROOT) -> List[Path]:
    files = [root / "config.yml", root / "domain.yml", *(root / name for name in COMPONENT_CODE)]
    for folder in DATA_DIRS:
        files += sorted((root / folder).rglob("*.yml"))
    return files


def inputs_hash(files: Iterable[Path], root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def main() -> int:
    models = ROOT / "models"
    model = models / f"{MODEL_NAME}.tar.gz"
    stamp = models / f"{MODEL_NAME}.inputs.sha256"
    wanted = inputs_hash(training_inputs())
    if model.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
        print(f"El modelo está al día ({model.relative_to(ROOT)}): no hace falta entrenar.")
        return 0
    print("Entrenando el modelo (config, dominio o datos han cambiado)...", flush=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
    command = [
        sys.executable, "-m", "bot.rasa_cli", "train", "--config", "config.yml", "--domain", "domain.yml",
        "--data", *DATA_DIRS, "--out", "models", "--fixed-model-name", MODEL_NAME, "--force",
    ]
    result = subprocess.run(command, cwd=ROOT, env=env)
    if result.returncode != 0:
        return result.returncode
    stamp.write_text(wanted + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
