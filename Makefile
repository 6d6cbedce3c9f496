# make run   — install, migrate an SQLite file under instance/, load the default programme, demo data, serve
# make test  — install with the dev dependencies and run the whole suite (SQLite and PostgreSQL)
# make bench — the benchmarks of bench/, one table
# make walkthrough — run the README's walk-through against a fresh server and compare its output
# make screenshots — every console page at both sizes and in both languages, into docs/screenshots/
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export BENEFITS_DATABASE_URL ?= sqlite:///$(CURDIR)/instance/benefits.db
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: install chromium broker run setup demo test test-all walkthrough screenshots bench clean
CHROMIUM := /usr/bin/chromium

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The package's bytecode, as installing a wheel writes it: a command (`benefits events import`, `benefits
# consume`) otherwise compiles every module it imports each time it starts, where PYTHONDONTWRITEBYTECODE is set
install: $(STAMP)
	@$(PY) -m compileall -q benefits

# Debian's Chromium for the browser tests (Playwright drives it; no browser is downloaded from elsewhere),
# and a Chinese font from Debian, so that 简体中文 pages render in it
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
$(CHROMIUM) $(CJK_FONT):
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-wqy-microhei

chromium: $(CHROMIUM) $(CJK_FONT)

# RabbitMQ for `benefits consume` and its tests: started when nothing answers on 127.0.0.1:5672
# (installed from Debian when missing)
BROKER_UP = $(PY) -c "import pika; pika.BlockingConnection(pika.URLParameters('amqp://guest:guest@127.0.0.1:5672/')).close()" 2>/dev/null
broker: install
	@$(BROKER_UP) || { \
	  command -v rabbitmq-server >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q rabbitmq-server; }; \
	  rabbitmq-server -detached 2>/dev/null || service rabbitmq-server start; \
	  for i in $$(seq 90); do $(BROKER_UP) && exit 0; sleep 1; done; echo "RabbitMQ did not start"; exit 1; }

setup: install
	$(BIN)/benefits db upgrade
	@if [ -z "$$($(BIN)/benefits rules active)" ]; then $(BIN)/benefits rules load rules/default.yaml --activate; fi

demo: setup
	$(BIN)/benefits demo

run: demo
	$(BIN)/gunicorn --config python:benefits.gunicorn --workers 2 --bind $(HOST):$(PORT) wsgi:app

test: install chromium broker
	$(PY) -m pytest -q -p no:cacheprovider

test-all: install chromium broker
	$(PY) -m pytest -q -p no:cacheprovider -m "slow or not slow"

walkthrough: install
	$(PY) -m pytest -q -p no:cacheprovider -m slow tests/test_walkthrough.py

screenshots: install chromium
	$(PY) tests/screenshots.py

bench: install
	@command -v wrk >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; }
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance/benefits.db* .pytest_cache
