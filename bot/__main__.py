"""``python -m bot run``: start the action server, the Rasa server and the
handoff bridge, print how to talk to the bot, restart any of them that dies,
and stop everything on Ctrl-C, SIGTERM or SIGHUP.
``python -m bot shell``: the action server plus ``rasa shell`` in this terminal.
``python -m bot run-scaled``: several Rasa workers and bridges behind HAProxy
(bot/scaled.py).

The signal handlers only record the request (bot.processes.StopRequest); the
code below notices it and stops the children in order.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from typing import List, Optional

from bot.processes import Stack, StartupError, StopRequest, die_with_parent, serve
from bot.scaled import run_scaled, scaled_env
from bot.settings import ROOT, Settings, SettingsError


def run(settings: Settings, stop: StopRequest) -> int:
    stack = Stack(settings)

    def start() -> bool:
        print("Arrancando el servidor de acciones, Rasa y el puente (puede tardar un minuto)...", flush=True)
        stack.start_actions()
        stack.start_rasa()
        stack.start_bridge()
        return True

    def ready_text() -> str:
        return (
            "\nListo.\n"
            f"  Tienda de demostración con el chat:  {settings.handoff_url}/\n"
            f"  Consola de agentes:                  {settings.handoff_url}/agent\n"
            "  Crear un agente (imprime su token):  make agent NAME=Marta\n"
            f"  Rasa directamente:  curl -s {settings.rasa_url}/webhooks/bridge/webhook "
            "-H \"Authorization: Bearer $RASA_BRIDGE_SECRET\" -H 'Content-Type: application/json' "
            "-d '{\"sender\":\"yo\",\"message\":\"hola\"}'"
            + ("\n" if os.environ.get("RASA_BRIDGE_SECRET") else
               "\n    (arranca con RASA_BRIDGE_SECRET=<un secreto> make run: sin él, el secreto es aleatorio)\n")
            + "Ctrl-C lo detiene todo."
        )

    return serve(stack, stop, start, ready_text)


def _end(process: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` s (``rasa shell`` shares our
    terminal and process group, so it is signalled by pid)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def shell(settings: Settings, stop: StopRequest) -> int:
    stack = Stack(settings)
    rasa_shell: Optional[subprocess.Popen] = None
    try:
        stack.start_actions()
        if not stack.wait_ready(stop=stop):
            return 0
        command: List[str] = [
            sys.executable, "-m", "bot.rasa_cli", "shell", "--model", str(settings.model_path),
            "--endpoints", str(ROOT / "endpoints.yml"), "--port", str(settings.rasa_port),
        ]
        # In our process group: it reads this terminal.
        rasa_shell = subprocess.Popen(command, cwd=str(ROOT), env=settings.child_env(),
                                      preexec_fn=die_with_parent())
        while rasa_shell.poll() is None and not stop.requested:
            stop.wait(1.0)  # woken by SIGCHLD or a stop signal
        if stop.requested:
            return 0
        return rasa_shell.returncode
    except StartupError as exc:
        print(f"Error al arrancar: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        if rasa_shell is not None:
            signals = signal.pthread_sigmask(signal.SIG_BLOCK, (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))
            try:
                _end(rasa_shell)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, signals)
        stack.stop()


def main(argv: Optional[List[str]] = None) -> int:
    # First of all, so that no signal can interrupt what follows.
    stop = StopRequest()
    stop.install()
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument("command", choices=["run", "shell", "run-scaled"])
    args = parser.parse_args(argv)
    env = scaled_env(os.environ) if args.command == "run-scaled" else dict(os.environ)
    try:
        settings = Settings.from_env(env)
    except SettingsError as exc:
        print(f"Configuración no válida: {exc}", file=sys.stderr)
        return 2
    if args.command == "run-scaled":
        return run_scaled(settings, env, stop)
    return run(settings, stop) if args.command == "run" else shell(settings, stop)


if __name__ == "__main__":
    sys.exit(main())
