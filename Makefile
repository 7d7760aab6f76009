# Trellis: `make run` serves the product, `make test` runs every test, `make help` lists every target.
# `make run`, `api`, `worker` and `migrate` install only requirements.txt into .venv; the test, lint and bench
# targets add the test and Pulumi requirements. Each set is installed once per change of its files (a stamp).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RESULTS := var/results
PIP := $(PY) -m pip install --disable-pip-version-check --progress-bar on
RUN_STAMP := $(VENV)/.runtime-$(shell cat requirements.txt | cksum | cut -d' ' -f1)
DEV_STAMP := $(VENV)/.dev-$(shell cat requirements.txt requirements-dev.txt $(wildcard requirements-infra.txt) | cksum | cut -d' ' -f1)

.PHONY: help venv venv-runtime run api worker migrate test test-fast lint bench soak dashboard profile roundtrips \
        cluster chaos mutate corpus fuzz clean checkov-venv deploy image teardown

help:              ## this list
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

venv: $(DEV_STAMP) ## .venv with every pinned requirement (runtime, tests, Pulumi); first time 1.3 GB, about 3-4 min

venv-runtime: $(RUN_STAMP) ## .venv with the runtime requirements only (what `make run` needs); first time about 300 MB, 30 s to a few min by link

$(RUN_STAMP): requirements.txt
	@test -x $(PY) || { echo "==> creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "==> installing the runtime requirements (requirements.txt) into $(VENV); only on first use or when it changes"
	$(PIP) -r requirements.txt
	@rm -f $(VENV)/.runtime-*; touch $@

$(DEV_STAMP): $(RUN_STAMP) requirements-dev.txt $(wildcard requirements-infra.txt)
	@echo "==> installing the test and Pulumi requirements into $(VENV) (about 1.1 GB with Playwright, Pulumi providers...)"
	$(PIP) -r requirements-dev.txt $(if $(wildcard requirements-infra.txt),-r requirements-infra.txt)
	@rm -f $(VENV)/.dev-*; touch $@

run: $(RUN_STAMP)  ## the whole product: migrate, then API on 127.0.0.1:$PORT (5001) + one worker
	$(PY) run.py

migrate: $(RUN_STAMP) ## bring the database schema up to date (Alembic; SQLite or Postgres)
	$(PY) -m flask --app wsgi db-upgrade

api: migrate       ## one API process (gunicorn), foreground
	$(PY) -m gunicorn -c gunicorn.conf.py wsgi:app

worker: $(RUN_STAMP) ## one worker process (Huey consumer + heartbeat + reaper + health port), foreground
	$(PY) -m worker.main

test: venv checkov-venv ## every test: unit, API, engine, infra, integration (real processes, Postgres, Redis, Chromium); about 15 min
	@if ! { command -v chromium && command -v promtool; } >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "==> running as root: installing the Debian packages chromium and prometheus with apt-get (browser and alert-rule tests)"; \
	  { apt-get update -qq && apt-get install -y -qq chromium prometheus >/dev/null; } || echo "==> apt-get failed: those tests will skip"; \
	fi
	$(PY) -m ruff check .
	$(PY) -m pytest

test-fast: venv    ## everything but the integration tests; about 5 min
	$(PY) -m pytest -m "not integration"

corpus: venv       ## the Dify corpus walk (../shared/dify-corpus or DIFY_CORPUS_DIR) with its counts printed
	$(PY) -m pytest tests/app/test_dify_corpus.py -q -s -rx

lint: venv         ## ruff
	$(PY) -m ruff check .

fuzz: venv         ## the property-based fuzz of the DSL importer and request bodies, 2000 examples per property
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-2000} $(PY) -m pytest tests/app/test_fuzz_inputs.py --timeout=0


bench: venv        ## benchmarks on Postgres + Redis; writes var/results/benchmarks.md (docs/benchmarks.md is the published copy); 20 min or more
	$(PY) -m bench.run --out $(RESULTS)/benchmarks.md

soak: venv         ## 10 minutes of LLM-bound runs at 10/s, RSS of every process each minute; its section in var/results/benchmarks.md
	$(PY) -m bench.soak --out $(RESULTS)/benchmarks.md

dashboard: venv    ## docs/img/dashboard.png: ops/grafana/trellis.json drawn from a real Prometheus over a load run; about 4 min
	$(PY) -m bench.dashboard

profile: venv      ## py-spy on the API and a worker under 32 clients: where the CPU goes, per function; about 1 min
	$(PY) -m bench.profile

roundtrips: venv   ## Postgres transactions and Redis commands per run, counted by the servers; under 1 min
	$(PY) -m bench.roundtrips

cluster: venv      ## 2 APIs (behind nginx+TLS if installed), 3 workers, Postgres, a private Redis; foreground until Ctrl-C
	@if ! command -v nginx >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "==> running as root: installing the Debian package nginx-light with apt-get"; \
	  { apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; } || echo "==> apt-get failed: no TLS proxy"; \
	fi
	$(PY) -m bench.cluster

chaos: venv        ## 500 runs under worker kills, a Redis restart, an API restart, then 60 connected clients
                   ## through a Redis restart and a worker SIGKILL; writes var/results/reliability.md; about 4 min
	$(PY) -m bench.chaos --out $(RESULTS)/reliability.md

mutate: venv       ## mutation testing of the critical modules (mutmut); scores in docs/mutation.md; MODULES="app/x.py ..." for some
	$(PY) -m bench.mutation $(MODULES)

# checkov's dependencies conflict with the app's pins, so it gets its own virtualenv (tests/infra/test_infra_checkov.py).
checkov-venv:      ## checkov in .venv-checkov (requirements-checkov.txt); its test skips if this fails
	@test -x .venv-checkov/bin/checkov || { $(PYTHON) -m venv .venv-checkov && \
		.venv-checkov/bin/pip install -q --disable-pip-version-check -r requirements-checkov.txt; } || \
		echo "checkov could not be installed: tests/infra/test_infra_checkov.py will skip"

# One command per AWS environment: the layer stacks in order (infra/layer.py), the image pushed once its registry
# exists, never `--target`. `make deploy ENV=prod TAG=1.4.0`; without TAG, trellis:imageTag of Pulumi.$(ENV).yaml.
ENV ?= dev
TAG ?=
LAYERS_BEFORE_IMAGE := cluster data
LAYERS_AFTER_IMAGE := addons app
PULUMI_UP ?= pulumi up --yes --policy-pack infra/policy
IMAGE_TAG = $(or $(TAG),$(shell $(PY) -c "import yaml; print(yaml.safe_load(open('Pulumi.$(ENV).yaml'))['config']['trellis:imageTag'])"))

deploy: venv       ## bring a whole AWS environment up (or update it), layer by layer: make deploy ENV=prod [TAG=x]
	@for layer in $(LAYERS_BEFORE_IMAGE); do \
		PATH="$(CURDIR)/$(VENV)/bin:$$PATH" pulumi stack select --create $(ENV)-$$layer && \
		PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PULUMI_UP) -s $(ENV)-$$layer || exit 1; done
	$(MAKE) image ENV=$(ENV) TAG=$(IMAGE_TAG)
	@for layer in $(LAYERS_AFTER_IMAGE); do \
		PATH="$(CURDIR)/$(VENV)/bin:$$PATH" pulumi stack select --create $(ENV)-$$layer && \
		PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PULUMI_UP) -s $(ENV)-$$layer \
			$$( [ $$layer = app ] && echo --config trellis:imageTag=$(IMAGE_TAG) ) || exit 1; done

image: venv        ## build the image and push it as $(IMAGE_TAG) to the environment's ECR repository
	@repo=$$(pulumi stack output repository_url -s $(ENV)-data) && \
	aws ecr get-login-password | docker login --username AWS --password-stdin "$${repo%%/*}" && \
	docker build -t "$$repo:$(IMAGE_TAG)" . && docker push "$$repo:$(IMAGE_TAG)"

teardown:          ## destroy an environment's layer stacks, app first (prod's data stores are protected)
	@for layer in app addons data cluster; do \
		PATH="$(CURDIR)/$(VENV)/bin:$$PATH" pulumi destroy --yes -s $(ENV)-$$layer || exit 1; done

clean:             ## remove .venv, var/ (embedded data, results) and caches
	rm -rf $(VENV) .venv-checkov var .pytest_cache mutants
