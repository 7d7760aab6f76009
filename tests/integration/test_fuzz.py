"""Property-based fuzzing of the whole documented API (schemathesis, from `GET /v1/openapi.json`) against real
processes: gunicorn + a Huey worker on the embedded defaults, with an admin token, a workflow app, a chatflow
app and a knowledge key provisioned. Valid and invalid requests alike must never get a 5xx, and every response
must match the document (status code, content type, body schema). Bounded: a few examples per operation."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bench.llm_server import StubLLMServer
from bench.stack import Stack, running_stack
from tests.conftest import SAMPLES, fixture_dsl

pytestmark = pytest.mark.integration

ADMIN = "adm-fuzz"
MAX_EXAMPLES = 30
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
CHAT_PATHS = ("/v1/chat-messages", "/v1/conversations", "/v1/messages", "/v1/app/feedbacks")


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, dict[str, str]]]:
    with StubLLMServer() as llm, running_stack(tmp_path_factory.mktemp("fuzz") / "home", {
            "ADMIN_TOKEN": ADMIN, "OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "sk-test",
            # Fuzzed credentials are wrong on purpose; the failed-auth guard has its own tests.
            "AUTH_FAILURES_PER_MINUTE": "0", "BLOCKING_TIMEOUT_SECONDS": "20"}) as stack:
        yield stack, provision(stack.base_url)


def provision(base: str) -> dict[str, str]:
    """Bearer headers by credential kind: `workflow` and `chat` app keys, `dataset` key, `admin` token."""
    admin = {"Authorization": f"Bearer {ADMIN}"}

    def app_key(dsl: str) -> str:
        created = requests.post(f"{base}/manage/v1/apps", data=dsl.encode(), timeout=10,
                                headers={**admin, "Content-Type": "application/yaml"})
        assert created.status_code == 201, created.text
        key = requests.post(f"{base}/manage/v1/apps/{created.json()['id']}/api-keys", headers=admin, timeout=10)
        return str(key.json()["token"])

    dataset_key = requests.post(f"{base}/manage/v1/datasets/api-keys", headers=admin, timeout=10).json()["token"]
    return {"workflow": app_key((SAMPLES / "hello.yml").read_text()),
            "chat": app_key(fixture_dsl("chatflow.yml")),
            "dataset": dataset_key, "admin": ADMIN}


def credential(path: str, tokens: dict[str, str]) -> str:
    if path.startswith("/manage/"):
        return tokens["admin"]
    if path.startswith(("/v1/datasets", "/v1/workspaces")):
        return tokens["dataset"]
    return tokens["chat"] if path.startswith(CHAT_PATHS) else tokens["workflow"]


def fuzz_operation(operation: schemathesis.APIOperation, mode: GenerationMode, stack: Stack,
                   tokens: dict[str, str], statuses: Counter[int]) -> list[str]:
    """Run MAX_EXAMPLES generated requests of one mode against one operation; the failures, described."""
    failures: list[str] = []
    headers = {"Authorization": f"Bearer {credential(operation.path, tokens)}"}

    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case) -> None:
        try:
            response = case.call_and_validate(base_url=stack.base_url, headers=headers, checks=CHECKS, timeout=30)
            statuses[response.status_code] += 1
        except (AssertionError, FailureGroup) as exc:  # one failed check, or several
            failures.append(f"{operation.method.upper()} {operation.path} [{mode.value}]: {str(exc)[:1500]}")

    with contextlib.suppress(Unsatisfiable):  # negative mode of an operation without parameters or body
        check()
    return failures


@pytest.mark.timeout(600)  # ~75 operations x 2 modes x 30 examples; ~3 minutes on a loaded 2-core machine
def test_fuzz_finds_no_server_error_and_no_schema_violation(fuzz_stack):
    stack, tokens = fuzz_stack
    schema = schemathesis.openapi.from_url(f"{stack.base_url}/v1/openapi.json", timeout=10)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 50
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += fuzz_operation(operation, mode, stack, tokens, statuses)
    assert not failures, "\n\n".join(failures[:20])
    print(f"fuzz: {sum(statuses.values())} requests, by status {sorted(statuses.items())}")
    # The credentials work and requests reach the handlers: many succeed, and nothing is a 5xx.
    assert sum(n for status, n in statuses.items() if status < 300) > 100
    assert not [status for status in statuses if status >= 500]


def test_the_server_still_serves_after_the_fuzz(fuzz_stack):
    stack, tokens = fuzz_stack
    started = time.monotonic()
    done = requests.post(f"{stack.base_url}/v1/workflows/run", timeout=30,
                         headers={"Authorization": f"Bearer {tokens['workflow']}"},
                         json={"inputs": {"name": "Ada"}, "response_mode": "blocking", "user": "after-fuzz"})
    assert done.status_code == 200 and done.json()["data"]["status"] == "succeeded"
    assert time.monotonic() - started < 10
    assert requests.get(f"{stack.base_url}/ready", timeout=5).status_code == 200
