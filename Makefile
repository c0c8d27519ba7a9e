# Flowtower: `make run` serves the demo at http://127.0.0.1:8000; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test setup services bench check-deploy screenshots clean

$(VENV)/.python-ok:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Flowtower needs Python 3.11 or newer (found %s); set PYTHON=python3.x" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	@touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.python-ok
	$(PIP) install --quiet -e '.[test]'
	@touch $@

setup: $(VENV)/.installed

# The demo: SQLite and no Redis unless DATABASE_URL / REDIS_URL are set. DEBUG is on only here.
run: setup
	@mkdir -p var
	@test -s var/demo_secret_key || $(PY) -c 'import secrets; print(secrets.token_urlsafe(50))' > var/demo_secret_key
	@export DEBUG=1 SECRET_KEY="$${SECRET_KEY:-$$(cat var/demo_secret_key)}"; \
	$(PY) manage.py migrate --noinput && \
	$(PY) manage.py demo setup --token-file var/demo_token && \
	trap 'kill 0' INT TERM EXIT; \
	$(PY) manage.py demo feed --url http://$(HOST):$(PORT) --token-file var/demo_token & \
	if [ -n "$$REDIS_URL" ]; then $(VENV)/bin/celery -A config worker -B --loglevel=INFO --concurrency=2 & fi; \
	$(PY) manage.py runserver $(HOST):$(PORT)

services:
	@scripts/ensure_services.sh
	@scripts/ensure_browser.sh

test: setup services
	$(VENV)/bin/pytest

# Benchmarks against a throwaway PostgreSQL database (not part of `make test`: numbers, not assertions).
bench: setup services
	@createdb -h 127.0.0.1 -U postgres flowtower_bench 2>/dev/null || true
	@export DATABASE_URL=postgres://postgres@127.0.0.1:5432/flowtower_bench SECRET_KEY=bench-only-secret-key-0123456789abcdefghijklmnopqrstuvwxyz \
		ALLOWED_HOSTS=testserver SECURE_SSL_REDIRECT=false LOG_LEVEL=WARNING; \
	$(PY) manage.py migrate -v0 && $(PY) manage.py shell < scripts/bench.py; \
	status=$$?; dropdb -h 127.0.0.1 -U postgres flowtower_bench; exit $$status

# Production settings must pass Django's deployment checks.
check-deploy: setup
	DEBUG=0 SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') ALLOWED_HOSTS=flowtower.example \
		$(PY) manage.py check --deploy --fail-level WARNING

# Screenshots of the main pages for docs/screenshots/, from a running `make run`:
#   make screenshots PASSWORD=<member password printed by make run>
screenshots: setup
	$(PY) scripts/screenshots.py http://$(HOST):$(PORT) member "$(PASSWORD)"

clean:
	rm -rf $(VENV) var db.sqlite3 staticfiles
