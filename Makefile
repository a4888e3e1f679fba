# Two commands: `make run` (demo portal + worker) and `make test` (whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | cksum | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install lint audit migrate demo worker messages bench clean chromium

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

migrate: install
	DEBUG=1 $(BIN)/python manage.py migrate --noinput

# The demo's settings for commands run by hand (`.venv/bin/python manage.py ...`, celery):
# settings.py reads `.env`. Written once, never overwritten; delete it on a production host.
.env:
	printf '%s\n' '# Written by `make run`/`make demo`: demo settings read by manage.py and celery.' \
	  '# Never keep this file on a production host.' 'DEBUG=1' > $@

demo: migrate .env
	DEBUG=1 $(BIN)/python manage.py seed_demo

run: demo
	@echo ""
	@echo "  Portal:   http://$(HOST):$(PORT)/   (make run HOST=0.0.0.0 PORT=8080 to change)"
	@echo "  Logins (password demo-portail-2026):"
	@echo "    admin@demo.fr       editor admin (enrols TOTP at first login)"
	@echo "    operateur@demo.fr   operator  | lecteur@demo.fr viewer | pharmacien@demo.fr pharmacist"
	@echo "  TOTP code:        .venv/bin/python manage.py demo_totp operateur@demo.fr"
	@echo "  While enrolling:  .venv/bin/python manage.py demo_totp --secret <secret shown on the page>"
	@echo "  Issue a request:  .venv/bin/python manage.py demo_issue <request id> -o issued.pem"
	@echo ""
	DEBUG=1 $(BIN)/celery -A portal worker --beat --loglevel=INFO --concurrency=2 & \
	  WORKER=$$!; trap 'kill $$WORKER 2>/dev/null' EXIT INT TERM; \
	  DEBUG=1 $(BIN)/python manage.py runserver $(HOST):$(PORT)

worker: install
	DEBUG=1 $(BIN)/celery -A portal worker --beat --loglevel=INFO

test: install chromium
	$(BIN)/python -m pytest

# Browser tests drive Debian's chromium (never a downloaded build). Without root or apt
# the package is not installed and tests/browser skips itself, saying why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "chromium could not be installed: the browser tests will be skipped"; \
	  else echo "no chromium (and no root apt-get): the browser tests will be skipped"; fi; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# pip-audit of requirements.lock (says so when no advisory service is reachable).
audit: install
	.ci/audit

messages: install
	DEBUG=1 $(BIN)/python manage.py makemessages -l fr -l en --ignore=.venv --ignore=var
	DEBUG=1 $(BIN)/python manage.py compilemessages --ignore=.venv

bench: install
	$(BIN)/python bench/run

clean:
	rm -rf $(VENV) var
