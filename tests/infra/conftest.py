"""Fixtures for the infrastructure tests: each environment (dev, prod, local) is built once per session.

Builds read the real ``Pulumi.<env>.yaml`` files through ``load_config`` and run the real
program (``infra.stack.build_stack``) under Pulumi's mocks; see ``infra_harness.py``. ``dev`` and
``local`` are built as one stack each; ``prod`` as its four layer stacks in order (the way
``make deploy`` brings it up), so both paths are covered.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
for path in (str(_HERE.parents[1]), str(_HERE)):  # the repo root (for `infra`) and this folder (the harness)
    if path not in sys.path:
        sys.path.insert(0, path)

from infra_harness import PROD_OPERATOR_SETTINGS, StackRun, load_stack_config, run_layers, run_stack  # noqa: E402

STACKS = ("dev", "prod", "local")


@pytest.fixture(autouse=True)
def _current_event_loop() -> None:
    """Pulumi's Outputs ask for the thread's current event loop; a test elsewhere that ran `asyncio.run` in this
    thread leaves none behind, so make sure there is one."""
    import asyncio

    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())
_CACHE: dict[str, StackRun] = {}


def built(stack: str) -> StackRun:
    """The mocked run of ``stack`` with a configured (secret) OpenAI key; cached for the session."""
    if stack not in _CACHE:
        key = {"trellis:openaiApiKey": "sk-test-openai-key-not-real"}
        if stack == "prod":
            operator = {f"trellis:{k}": json.dumps(v) for k, v in PROD_OPERATOR_SETTINGS.items()}
            # As docs/deploy.md says: the operator's settings on prod-cluster, the secret on prod-app.
            _CACHE[stack] = run_layers("prod", None, ["trellis:openaiApiKey"], {"cluster": operator, "app": key})
        else:
            _CACHE[stack] = run_stack(load_stack_config(stack, key, ["trellis:openaiApiKey"]))
    return _CACHE[stack]


def pytest_configure(config: pytest.Config) -> None:
    # pulumi_aws warns about its own deprecated S3 classes when imported; the program does not use them.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:pulumi_aws.*")


@pytest.fixture(params=STACKS)
def any_stack(request: pytest.FixtureRequest) -> StackRun:
    return built(request.param)


@pytest.fixture(params=("dev", "prod"))
def aws_stack(request: pytest.FixtureRequest) -> StackRun:
    return built(request.param)


@pytest.fixture
def dev() -> StackRun:
    return built("dev")


@pytest.fixture
def prod() -> StackRun:
    return built("prod")


@pytest.fixture
def local() -> StackRun:
    return built("local")
