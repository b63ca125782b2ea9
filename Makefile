# make run   — set up, migrate and seed the demo store, train if needed, start the stack
# make test  — set up, train if needed, run every test
SHELL := /bin/bash
.DEFAULT_GOAL := run

VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONWARNINGS := ignore

# rasa 3.6 needs Python 3.10: the first python3.10 that really runs
# (pyenv's shim only runs when 3.10 is the selected version).
PYTHON310 ?= $(shell for p in python3.10 $$HOME/.pyenv/versions/3.10*/bin/python3.10 /usr/local/bin/python3.10 /usr/bin/python3.10; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)

.PHONY: run run-scaled setup migrate train seed shell test lint bench validate clean agent browser lb

setup: $(STAMP) migrate

$(STAMP): pyproject.toml constraints.txt
	@test -n "$(PYTHON310)" || { echo "Python 3.10 not found (rasa 3.6 needs it). Install python3.10 or set PYTHON310=/path/to/python3.10"; exit 1; }
	@test -x $(PY) || $(PYTHON310) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==23.3.2"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test]"
	$(PY) -m pip check
	@touch $@

# Trains only when config, domain or training data changed (content hash).
train: $(STAMP)
	$(PY) -m bot.train

# The database's schema to the newest revision of migrations/ (DATABASE_URL,
# default var/store.db); the seed and the bridge's start run it too.
migrate: $(STAMP)
	$(PY) -m migrations

seed: migrate
	$(PY) -m core.store.seed

run: migrate train seed
	$(PY) -m bot run

# The scaled stack on this machine: 2 Rasa workers, 2 bridges behind HAProxy on
# HANDOFF_PORT, PostgreSQL and Redis on their standard local ports (bot/scaled.py).
run-scaled: $(STAMP) train lb
	$(PY) -m bot run-scaled

shell: migrate train seed
	$(PY) -m bot shell

# make agent NAME=Marta [ROLE=supervisor] — creates a console agent (role
# agent by default; a supervisor also reads the reports) and prints its token.
ROLE ?= agent
agent: $(STAMP)
	@test -n "$(NAME)" || { echo "usage: make agent NAME=Marta [ROLE=agent|supervisor]"; exit 2; }
	$(PY) -m handoff agent add "$(NAME)" --role "$(ROLE)"

validate: $(STAMP)
	$(PY) -m rasa data validate --config config.yml --domain domain.yml --data data/nlu data/rules data/stories

# Debian's Chromium for the browser tests (Playwright's own browser download
# cannot work here). Needs root, as on these machines.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# Debian's HAProxy, the load balancer of `make run-scaled` and its tests.
lb:
	@command -v haproxy >/dev/null 2>&1 || test -x /usr/sbin/haproxy || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; }

# Lint and types first (seconds), then every test.
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

test: lint train browser lb
	$(PY) -m pytest

bench: train seed
	$(PY) -m bench.assistant
	$(PY) -m bench.turns --write
	$(PY) -m bench.bridge
	$(PY) -m bench.bridge --bridges 2 --skip-rasa --skip-login-flood --rates 50
	$(PY) -m bench.workers
	$(PY) -m bench.notifications --write

clean:
	rm -rf models var .pytest_cache results
