# Trellis: `make run` serves the product, `make test` runs every test. Each target creates .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt $(wildcard requirements-infra.txt) | cksum | cut -d' ' -f1)

.PHONY: venv run api worker migrate test test-fast lint bench soak dashboard profile roundtrips cluster chaos mutate clean \
	checkov-venv deploy image teardown

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

test: venv checkov-venv  ## every test: unit, API, engine, infra, integration (real processes, Postgres, Redis, Chromium)
	@{ command -v chromium && command -v promtool; } >/dev/null || [ "$$(id -u)" != 0 ] || (apt-get update -qq && apt-get install -y -qq chromium prometheus >/dev/null) || true
	$(PY) -m ruff check .
	$(PY) -m pytest

test-fast: venv    ## everything but the integration tests
	$(PY) -m pytest -m "not integration"

lint: venv
	$(PY) -m ruff check .

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

chaos: venv        ## 500 runs under worker kills, a Redis restart, an API restart; writes docs/reliability.md
	$(PY) -m bench.chaos

mutate: venv       ## mutation testing of the critical modules (mutmut, ~30 min); scores in docs/mutation.md
	$(PY) -m bench.mutation

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

clean:
	rm -rf $(VENV) var .pytest_cache mutants
