"""The run page in a real Chromium (Playwright, the system's browser): the workflow drawn as laid out, the
failing node highlighted, its detail opened by a click showing its error; iteration rounds one by one.
Real product: gunicorn API + worker on the embedded defaults. Skips without a `chromium` on PATH. With
TRELLIS_UPDATE_DOCS_IMAGES=1 the picture in docs/img/ is refreshed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from bench.llm_server import StubLLMServer
from bench.stack import ROOT, Stack, running_stack
from tests.app.api.test_console_browser import CHROMIUM, CHROMIUM_ARGS, sign_in
from tests.trace_flows import traced_flow

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)")]

ADMIN = "adm-console-browser"  # sign_in() types this token
ARTIFACTS = ROOT / "var" / "artifacts" / "console"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, llm_server: StubLLMServer) -> Iterator[Stack]:
    env = {"ADMIN_TOKEN": ADMIN, "OPENAI_BASE_URL": llm_server.base_url, "OPENAI_API_KEY": "sk-test",
           "WEB_CONCURRENCY": "1"}
    with running_stack(tmp_path_factory.mktemp("run-page") / "home", env) as running:
        yield running


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser: Browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(10_000)
        yield context.new_page()
        browser.close()


def runs(stack: Stack, llm_server: StubLLMServer) -> tuple[str, str]:
    """A succeeded run (two iteration rounds) and a run whose LLM node fails at the model."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        created = client.post("/manage/v1/apps", content=traced_flow(),
                              headers={**admin, "Content-Type": "application/yaml"})
        key = client.post(f"/manage/v1/apps/{created.json()['id']}/api-keys", headers=admin).json()["token"]
        headers = {"Authorization": f"Bearer {key}"}

        def run(inputs: dict[str, object]) -> dict[str, object]:
            body = {"inputs": inputs, "response_mode": "blocking", "user": "browser"}
            return client.post("/v1/workflows/run", json=body, headers=headers).json()["data"]

        good = run({"q": "fine", "items": ["red", "green"]})
        llm_server.config.fail_status = 400
        try:
            bad = run({"q": "fail", "items": []})
        finally:
            llm_server.config.fail_status = None
    assert good["status"] == "succeeded" and bad["status"] == "failed", (good, bad)
    return str(good["id"]), str(bad["id"])


def test_a_failed_run_page_highlights_the_failing_node_and_shows_its_error(page: Page, stack: Stack,
                                                                          llm_server: StubLLMServer) -> None:
    good, bad = runs(stack, llm_server)
    sign_in(page, stack.base_url)
    page.goto(f"{stack.base_url}/manage/console/runs/{bad}")
    drawing = page.get_by_role("img", name=f"Workflow of run {bad}")
    expect(drawing).to_be_visible()
    failing = drawing.locator("a.node.failed")
    expect(failing).to_have_count(1)
    expect(failing).to_have_attribute("data-node", "llm1")
    expect(drawing.locator('a.node[data-node="start"]')).to_have_class("node succeeded")
    # Drawn as the builder laid it out: the LLM node sits above and right of the start node.
    start_box = drawing.locator('a.node[data-node="start"] rect').bounding_box()
    llm_box = failing.locator("rect").bounding_box()
    assert start_box and llm_box and llm_box["x"] > start_box["x"] and llm_box["y"] < start_box["y"]
    detail = page.get_by_role("region", name="Node llm1")
    expect(detail).to_be_hidden()
    failing.click()
    expect(detail).to_be_visible()
    expect(detail.locator(".node-error")).to_contain_text("400 error from model endpoint")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "run-graph.png", full_page=True, animations="disabled")
    if os.environ.get("TRELLIS_UPDATE_DOCS_IMAGES") == "1":
        shutil.copyfile(ARTIFACTS / "run-graph.png", ROOT / "docs" / "img" / "console-run-graph.png")

    page.goto(f"{stack.base_url}/manage/console/runs/{good}")
    page.get_by_role("img", name=f"Workflow of run {good}").locator('a.node[data-node="ask"]').click()
    rounds = page.get_by_role("region", name="Node ask").get_by_role("heading", level=4)
    expect(rounds).to_have_count(2)
    expect(rounds.nth(0)).to_contain_text("Iteration round 0")
    expect(rounds.nth(1)).to_contain_text("Iteration round 1")
