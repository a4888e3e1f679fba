# Two commands: `make run` (demo portal + worker) and `make test` (whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | cksum | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install lint migrate demo worker messages bench clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

migrate: install
	DEBUG=1 $(BIN)/python manage.py migrate --noinput

demo: migrate
	DEBUG=1 $(BIN)/python manage.py seed_demo

run: demo
	@echo ""
	@echo "  Portal:   http://$(HOST):$(PORT)/"
	@echo "  Logins (password demo-portail-2026):"
	@echo "    admin@demo.fr       editor admin (enrols TOTP at first login)"
	@echo "    operateur@demo.fr   operator  | lecteur@demo.fr viewer | pharmacien@demo.fr pharmacist"
	@echo "  TOTP code:  $(BIN)/python manage.py demo_totp operateur@demo.fr"
	@echo "  While enrolling: $(BIN)/python manage.py demo_totp --secret <secret shown on the page>"
	@echo ""
	DEBUG=1 $(BIN)/celery -A portal worker --beat --loglevel=INFO --concurrency=2 & \
	  WORKER=$$!; trap 'kill $$WORKER 2>/dev/null' EXIT INT TERM; \
	  DEBUG=1 $(BIN)/python manage.py runserver $(HOST):$(PORT)

worker: install
	DEBUG=1 $(BIN)/celery -A portal worker --beat --loglevel=INFO

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

messages: install
	DEBUG=1 $(BIN)/python manage.py makemessages -l fr -l en --ignore=.venv --ignore=var
	DEBUG=1 $(BIN)/python manage.py compilemessages --ignore=.venv

bench: install
	$(BIN)/python bench/run

clean:
	rm -rf $(VENV) var
