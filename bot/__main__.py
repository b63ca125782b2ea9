"""``python -m bot run``: start the action server, the Rasa server and the
handoff bridge, print how to talk to the bot, and stop everything on Ctrl-C.
``python -m bot shell``: the action server plus ``rasa shell`` in this terminal.
"""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from types import FrameType
from typing import List, Optional

from bot.processes import Stack, StartupError
from bot.settings import ROOT, Settings, SettingsError


def _install_signal_handlers() -> None:
    def _raise(signum: int, frame: Optional[FrameType]) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _raise)
    # A shell that starts us in the background sets SIGINT to "ignore", and
    # that is inherited: restore Ctrl-C explicitly.
    signal.signal(signal.SIGINT, signal.default_int_handler)


def run(settings: Settings) -> int:
    stack = Stack(settings)
    try:
        stack.start_actions()
        stack.start_rasa()
        stack.start_bridge()
        print("Arrancando el servidor de acciones, Rasa y el puente (puede tardar un minuto)...", flush=True)
        stack.wait_ready()
        print(
            "\nListo.\n"
            f"  Tienda de demostración con el chat:  {settings.handoff_url}/\n"
            f"  Consola de agentes:                  {settings.handoff_url}/agent\n"
            "  Crear un agente (imprime su token):  make agent NAME=Marta\n"
            f"  Rasa directamente:  curl -s {settings.rasa_url}/webhooks/rest/webhook "
            "-H 'Content-Type: application/json' "
            "-d '{\"sender\":\"yo\",\"message\":\"hola\"}'\n"
            "Ctrl-C lo detiene todo.",
            flush=True,
        )
        while True:
            exited = stack.first_exited()
            if exited is not None:
                print(f"{exited.name} se ha detenido (código {exited.process.returncode}).", file=sys.stderr)
                return 1
            time.sleep(1)  # supervising children, nothing to synchronise
    except StartupError as exc:
        print(f"Error al arrancar: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nDeteniendo...", flush=True)
        return 0
    finally:
        stack.stop()


def shell(settings: Settings) -> int:
    stack = Stack(settings)
    try:
        stack.start_actions()
        stack.wait_ready()
        command: List[str] = [
            sys.executable, "-m", "bot.rasa_cli", "shell", "--model", str(settings.model_path),
            "--endpoints", str(ROOT / "endpoints.yml"), "--port", str(settings.rasa_port),
        ]
        return subprocess.call(command, cwd=str(ROOT), env=settings.child_env())
    except StartupError as exc:
        print(f"Error al arrancar: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument("command", choices=["run", "shell"])
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"Configuración no válida: {exc}", file=sys.stderr)
        return 2
    _install_signal_handlers()
    return run(settings) if args.command == "run" else shell(settings)


if __name__ == "__main__":
    sys.exit(main())
