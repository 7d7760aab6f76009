"""A running Trellis (gunicorn + Huey worker on the embedded defaults) provisioned for the client SDK tests:
a workflow app, a chatflow app and a knowledge key, shared by one test module; and the small helpers those
tests share (dify-oapi builders, SSE parsing, waiting for indexing, the npm client's folder)."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.llm_server import StubLLMServer
from bench.stack import running_stack
from tests.conftest import fixture_dsl

ADMIN = "adm-clients"
WORKFLOW_DSL = fixture_dsl("llm_workflow.yml")
CHATFLOW_DSL = fixture_dsl("chatflow.yml")


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


def build(module: str, cls: str, /, **fields: Any) -> Any:
    """A dify-oapi request or body made through its builder, one builder call per field, as its docs show."""
    builder = getattr(importlib.import_module(f"dify_oapi.api.{module}"), cls).builder()
    for field, value in fields.items():
        builder = getattr(builder, field)(value)
    return builder.build()


def sse_data(chunks: Iterator[bytes]) -> list[dict[str, Any]]:
    text = b"".join(chunks).decode()
    return [json.loads(line[len("data: "):]) for line in text.splitlines() if line.startswith("data: ")]


def option(key: str) -> Any:
    from dify_oapi.core.model.request_option import RequestOption

    return RequestOption.builder().api_key(key).build()


def ok(response: Any) -> Any:
    assert response.success, (response.code, response.msg)
    return response


def wait_indexed(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "document not indexed in time"
        time.sleep(0.2)


NPM_PACKAGE = "dify-client@2.3.2"
NODE_DRIVER = Path(__file__).with_name("dify_client_node.mjs")
NPM_CACHE = Path(__file__).resolve().parent.parent / ".npm"  # gitignored; reused between runs


def node_client_folder() -> Path:
    """A folder with `dify-client` installed (npm, once per checkout) and the driver beside it, so node's ESM
    resolution finds the package. Skips when node/npm or the npm registry is unavailable."""
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node and npm are needed to run the npm dify-client")
    folder = NPM_CACHE / NPM_PACKAGE.replace("@", "-")
    if not (folder / "node_modules" / "dify-client" / "package.json").exists():
        folder.mkdir(parents=True, exist_ok=True)
        try:
            installed = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(folder),
                                        NPM_PACKAGE], capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            pytest.skip(f"npm install {NPM_PACKAGE} timed out (registry unreachable?)")
        if installed.returncode != 0:
            pytest.skip(f"npm install {NPM_PACKAGE} failed: {installed.stderr[-300:]}")
    shutil.copy(NODE_DRIVER, folder / NODE_DRIVER.name)
    return folder
