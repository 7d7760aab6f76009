# Trellis: `make run` serves the product, `make test` runs every test. Each target creates .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt $(wildcard requirements-infra.txt) | cksum | cut -d' ' -f1)

.PHONY: venv run api worker migrate test test-fast lint fuzz bench soak dashboard profile roundtrips cluster chaos clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt $(wildcard requirements-infra.txt)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt $(if $(wildcard requirements-infra.txt),-r requirements-infra.txt)
	@rm -f $(VENV)/.installed-*; touch $@

run: venv          ## the whole product: migrate, then API on 127.0.0.1:$$PORT (5001) + one worker
	$(PY) run.py

migrate: venv
	$(PY) -m flask --app wsgi db-upgrade

api: migrate       ## one API process (gunicorn), foreground
	$(PY) -m gunicorn -c gunicorn.conf.py wsgi:app

worker: venv       ## one worker process (Huey consumer + heartbeat + reaper + health port), foreground
	$(PY) -m worker.main

test: venv         ## every test: unit, API, engine, infra, integration (real processes, Postgres, Redis, Chromium)
	@{ command -v chromium && command -v promtool; } >/dev/null || [ "$$(id -u)" != 0 ] || (apt-get update -qq && apt-get install -y -qq chromium prometheus >/dev/null) || true
	$(PY) -m ruff check .
	$(PY) -m pytest

test-fast: venv    ## everything but the integration tests
	$(PY) -m pytest -m "not integration"

lint: venv
	$(PY) -m ruff check .

fuzz: venv         ## the property-based fuzz of the DSL importer and request bodies, 2000 examples per property
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-2000} $(PY) -m pytest tests/app/test_fuzz_inputs.py --timeout=0

bench: venv        ## benchmarks; results in docs/benchmarks.md
	$(PY) -m bench.run

soak: venv         ## 10 minutes of LLM-bound runs at 10/s, RSS of every process each minute (docs/benchmarks.md)
	$(PY) -m bench.soak

dashboard: venv    ## docs/img/dashboard.png: ops/grafana/trellis.json drawn from a real Prometheus over a load run
	$(PY) -m bench.dashboard

profile: venv      ## py-spy on the API and a worker under 32 clients: where the CPU goes, per function
	$(PY) -m bench.profile

roundtrips: venv   ## Postgres transactions and Redis commands per run, counted by the servers
	$(PY) -m bench.roundtrips

cluster: venv      ## 2 APIs (behind nginx+TLS if installed), 3 workers, Postgres, a private Redis; foreground
	@command -v nginx >/dev/null || [ "$$(id -u)" != 0 ] || (apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null) || true
	$(PY) -m bench.cluster

chaos: venv        ## 500 runs under worker kills, a Redis restart, an API restart, then 60 connected clients
                   ## through a Redis restart and a worker SIGKILL; writes docs/reliability.md
	$(PY) -m bench.chaos

clean:
	rm -rf $(VENV) var .pytest_cache
