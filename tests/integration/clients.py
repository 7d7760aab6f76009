"""A running Trellis (gunicorn + Huey worker on the embedded defaults) provisioned for the client SDK tests:
a workflow app, a chatflow app and a knowledge key, shared by one test module."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.llm_server import StubLLMServer
from bench.stack import running_stack
from tests.conftest import DSL_DIR

ADMIN = "adm-clients"
WORKFLOW_DSL = (DSL_DIR / "langgenius_dify_basic_llm_chat_workflow.yml").read_text()
CHATFLOW_DSL = (DSL_DIR / "langgenius_dify_basic_chatflow.yml").read_text()


@dataclass(frozen=True)
class Deployment:
    base_url: str  # http://127.0.0.1:port, without /v1
    workflow_key: str
    chat_key: str
    dataset_key: str

    @property
    def api(self) -> str:
        return f"{self.base_url}/v1"


def app_token(client: httpx.Client, dsl: str) -> str:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    created = client.post("/manage/v1/apps", content=dsl, headers={**admin, "Content-Type": "application/yaml"})
    assert created.status_code == 201, created.text
    key = client.post(f"/manage/v1/apps/{created.json()['id']}/api-keys", headers=admin)
    assert key.status_code == 201, key.text
    return str(key.json()["token"])


@contextmanager
def deployment(home: Path, llm: StubLLMServer) -> Iterator[Deployment]:
    env = {"ADMIN_TOKEN": ADMIN, "OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "sk-test",
           "SSE_PING_SECONDS": "1", "WEB_CONCURRENCY": "1"}
    with running_stack(home, env) as stack, httpx.Client(base_url=stack.base_url, timeout=30) as client:
        dataset_key = client.post("/manage/v1/datasets/api-keys", headers={"Authorization": f"Bearer {ADMIN}"})
        assert dataset_key.status_code == 201, dataset_key.text
        yield Deployment(stack.base_url, app_token(client, WORKFLOW_DSL), app_token(client, CHATFLOW_DSL),
                         dataset_key.json()["token"])
