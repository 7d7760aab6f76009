"""The web console (`/manage/console`) end to end in a real headless browser: Debian's Chromium driven by
Playwright, against the real product (gunicorn API + worker on the embedded SQLite defaults) seeded through the
real API. Each page is checked by what a person sees (roles, labels, visible text) and screenshotted into
`var/artifacts/console/`; with TRELLIS_UPDATE_DOCS_IMAGES=1 the pictures in docs/img/ are refreshed too.

Playwright only drives the system's Chromium (`executable_path`); it never downloads a browser. Without a
`chromium` on PATH these tests skip."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from bench.llm_server import StubLLMServer
from bench.stack import ROOT, Stack, running_stack
from tests.conftest import SAMPLES, fixture_dsl

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)")]

ADMIN = "adm-console-browser"
ARTIFACTS = ROOT / "var" / "artifacts" / "console"
DOCS_IMAGES = {"runs": "console-runs.png", "run": "console-run.png", "tasks": "console-tasks.png"}
# No sandbox (root in a container), and no background traffic: this network reaches nothing outside.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LLM_DSL = fixture_dsl("llm_workflow.yml")
PRICING = '{"currency": "USD", "models": {"gpt-3.5-turbo": {"prompt": 0.5, "completion": 1.5}}}'  # per 1M tokens
expect.set_options(timeout=10_000)


@dataclass(frozen=True)
class Seeded:
    base_url: str
    admin: dict[str, str]
    llm_app: str
    greetings: tuple[str, ...]  # succeeded runs of the sample app `hello`
    answered: str  # a succeeded LLM run
    broken: str  # a failed LLM run that stays failed
    retry_me: str  # a failed LLM run the task-queue test retries


def _provision(client: httpx.Client, admin: dict[str, str], dsl: str) -> tuple[str, dict[str, str]]:
    created = client.post("/manage/v1/apps", content=dsl, headers={**admin, "Content-Type": "application/yaml"})
    assert created.status_code == 201, created.text
    key = client.post(f"/manage/v1/apps/{created.json()['id']}/api-keys", headers=admin)
    assert key.status_code == 201, key.text
    return created.json()["id"], {"Authorization": f"Bearer {key.json()['token']}"}


def _run(client: httpx.Client, headers: dict[str, str], inputs: dict[str, str], status: str) -> str:
    body = {"inputs": inputs, "response_mode": "blocking", "user": "console-browser"}
    data = client.post("/v1/workflows/run", json=body, headers=headers).json()["data"]
    assert data["status"] == status, data
    return str(data["id"])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, llm_server: StubLLMServer) -> Iterator[Stack]:
    env = {"ADMIN_TOKEN": ADMIN, "OPENAI_BASE_URL": llm_server.base_url, "OPENAI_API_KEY": "sk-test",
           "WEB_CONCURRENCY": "1", "PRICING": PRICING}
    with running_stack(tmp_path_factory.mktemp("console") / "home", env) as running:
        yield running


@pytest.fixture(scope="module")
def seeded(stack: Stack, llm_server: StubLLMServer) -> Seeded:
    """Two apps and five runs made through the Service API: three succeed, two fail at the model."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        _, hello = _provision(client, admin, (SAMPLES / "hello.yml").read_text())
        llm_app, llm = _provision(client, admin, LLM_DSL)
        greetings = tuple(_run(client, hello, {"name": name}, "succeeded") for name in ("Ada", "Grace Hopper"))
        answered = _run(client, llm, {"query": "how long is a run?"}, "succeeded")
        llm_server.config.fail_status = 400
        try:
            broken = _run(client, llm, {"query": "fail for good"}, "failed")
            retry_me = _run(client, llm, {"query": "fail once"}, "failed")
        finally:
            llm_server.config.fail_status = None
    return Seeded(stack.base_url, admin, llm_app, greetings, answered, broken, retry_me)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) per test."""
    context = browser.new_context(viewport={"width": 1280, "height": 480})  # full-page shots grow
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def shoot(page: Page, name: str) -> None:
    """A full-page screenshot kept as a test artifact; a docs picture too when asked to refresh them."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=path, full_page=True, animations="disabled")
    if os.environ.get("TRELLIS_UPDATE_DOCS_IMAGES") == "1" and name in DOCS_IMAGES:
        (ROOT / "docs" / "img").mkdir(exist_ok=True)
        shutil.copyfile(path, ROOT / "docs" / "img" / DOCS_IMAGES[name])


def check_page_basics(page: Page) -> None:
    """What every console page owes a keyboard or screen-reader user: one main landmark, one h1, a label for
    every field and a name for every button."""
    expect(page.get_by_role("main")).to_have_count(1)
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    unlabelled = page.locator("input:not([type=hidden]), select").evaluate_all(
        "fields => fields.filter(f => f.labels.length === 0).map(f => f.outerHTML)")
    assert unlabelled == []
    for button in page.get_by_role("button").all():
        assert button.evaluate("b => b.tagName") == "BUTTON" and button.inner_text().strip()


def sign_in(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/manage/console/")
    page.get_by_label("Admin token").fill(ADMIN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()


def nav(page: Page, label: str) -> None:
    page.get_by_role("navigation", name="Console").get_by_role("link", name=label, exact=True).click()
    expect(page.get_by_role("navigation", name="Console").get_by_role("link", name=label, exact=True)) \
        .to_have_attribute("aria-current", "page")


def reload_until(page: Page, locator: Locator, text: str, seconds: float = 20.0) -> None:
    """Reload until `locator` shows `text` (the worker finishes a run in the background)."""
    deadline = time.monotonic() + seconds
    while locator.inner_text().strip() != text and time.monotonic() < deadline:
        time.sleep(0.2)
        page.reload()
    expect(locator).to_have_text(text)


def card(page: Page, label: str) -> Locator:
    return page.get_by_role("listitem").filter(has_text=re.compile(f"^{label}")).locator("strong")


def test_sign_in_refuses_a_wrong_token_and_admits_the_admin_by_keyboard(page: Page, stack: Stack) -> None:
    page.goto(f"{stack.base_url}/manage/console/")
    expect(page).to_have_title(re.compile("Sign in"))
    token = page.get_by_label("Admin token")
    expect(token).to_be_focused()
    check_page_basics(page)
    token.fill("adm-not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Sign-in failed: that admin token is not valid.")
    expect(page.get_by_role("navigation")).to_have_count(0)
    shoot(page, "login-refused")

    page.keyboard.type(ADMIN)  # the field has the focus again
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "trellis_admin")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/manage/console/"

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Admin token")).to_be_visible()
    assert [c for c in page.context.cookies() if c["name"] == "trellis_admin"] == []
    page.goto(f"{stack.base_url}/manage/console/tasks")  # signed out: back to the sign-in form
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_runs_filter_by_status_and_by_app(page: Page, seeded: Seeded) -> None:
    sign_in(page, seeded.base_url)
    check_page_basics(page)
    runs = page.get_by_role("table")
    expect(runs.get_by_role("caption")).to_have_text("5 runs")
    for run_id in (*seeded.greetings, seeded.answered, seeded.broken, seeded.retry_me):
        expect(runs.get_by_role("link", name=run_id[:8], exact=True)).to_be_visible()
    expect(runs.get_by_role("row").filter(has_text=seeded.broken[:8])).to_contain_text("single-llm")
    shoot(page, "runs")

    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(runs.get_by_role("link", name=seeded.broken[:8])).to_be_visible()
    expect(runs.get_by_role("row").filter(has_text=seeded.broken[:8])).to_contain_text("400 error from model endpoint")
    for run_id in (*seeded.greetings, seeded.answered):
        expect(runs.get_by_role("link", name=run_id[:8])).to_have_count(0)
    expect(runs.get_by_role("cell", name="succeeded", exact=True)).to_have_count(0)
    expect(page.get_by_label("Status")).to_have_value("failed")  # the filter stays shown as chosen

    page.get_by_label("Status").select_option("")
    page.get_by_label("App").select_option(label="hello")
    page.get_by_role("button", name="Filter").click()
    expect(runs.get_by_role("caption")).to_have_text("2 runs")
    for run_id in seeded.greetings:
        expect(runs.get_by_role("link", name=run_id[:8])).to_be_visible()
    expect(runs.get_by_role("cell", name="single-llm")).to_have_count(0)
    shoot(page, "runs-by-app")

    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(runs.get_by_role("caption")).to_have_text("0 runs")
    expect(runs.get_by_role("cell", name="None.")).to_be_visible()


def test_run_page_shows_the_node_timeline_with_durations_and_tokens(page: Page, seeded: Seeded) -> None:
    chain = httpx.get(f"{seeded.base_url}/manage/v1/audit/runs/{seeded.answered}", headers=seeded.admin).json()
    assert chain["total_tokens"] > 0
    sign_in(page, seeded.base_url)
    page.get_by_role("table").get_by_role("link", name=seeded.answered[:8]).click()
    expect(page.get_by_role("heading", name=f"Run {seeded.answered}")).to_be_visible()
    check_page_basics(page)
    expect(card(page, "Status")).to_have_text("succeeded")
    expect(card(page, "App")).to_have_text("single-llm")
    expect(card(page, "Tokens")).to_have_text(str(chain["total_tokens"]))
    assert float(chain["total_price"]) > 0
    expect(card(page, "Cost")).to_have_text(chain["total_price"])

    timeline = page.get_by_role("table", name="Node timeline")
    expect(timeline.get_by_role("row")).to_have_count(1 + len(chain["nodes"]))
    for node in chain["nodes"]:
        row = timeline.get_by_role("row").filter(has=page.get_by_role("rowheader", name=node["title"], exact=True))
        expect(row).to_contain_text(node["node_type"])
        expect(row).to_contain_text(f"{node['elapsed_time']:.3f}")  # each node's duration
    llm_row = timeline.get_by_role("row").filter(has=page.get_by_role("rowheader", name="LLM", exact=True))
    expect(llm_row.get_by_role("cell").nth(5)).to_have_text(str(chain["total_tokens"]))
    calls = page.get_by_role("table", name=re.compile("Every model call"))
    expect(calls.get_by_role("row").filter(has_text="gpt-3.5-turbo")).to_contain_text("success")
    expect(page.get_by_role("button", name=re.compile("Retry"))).to_have_count(0)  # nothing to retry
    shoot(page, "run")


def test_task_queue_retries_a_failed_run(page: Page, seeded: Seeded, llm_server: StubLLMServer) -> None:
    sign_in(page, seeded.base_url)
    nav(page, "Task queue")
    check_page_basics(page)
    expect(page.get_by_role("heading", name="Recent failures")).to_be_visible()
    failures = page.get_by_role("table", name="Latest failed runs")
    expect(failures.get_by_role("link", name=seeded.retry_me[:8])).to_be_visible()
    expect(failures.get_by_role("link", name=seeded.broken[:8])).to_be_visible()
    expect(card(page, "Queued runs")).to_have_text("0")
    shoot(page, "tasks")

    calls_before = len(llm_server.chat_requests())
    page.get_by_role("button", name=f"Retry run {seeded.retry_me[:8]}", exact=True).click()
    expect(page.get_by_role("status")).to_have_text(f"Queued again: run {seeded.retry_me[:8]}.")
    expect(page).to_have_url(re.compile(r"/manage/console/tasks\?"))
    expect(failures.get_by_role("link", name=seeded.retry_me[:8])).to_have_count(0)
    expect(failures.get_by_role("link", name=seeded.broken[:8])).to_be_visible()

    nav(page, "Runs")
    page.get_by_role("table").get_by_role("link", name=seeded.retry_me[:8]).click()
    reload_until(page, card(page, "Status"), "succeeded")
    assert len(llm_server.chat_requests()) == calls_before + 1  # the model was asked again, once
    timeline = page.get_by_role("table", name="Node timeline")
    llm_rows = timeline.get_by_role("row").filter(has=page.get_by_role("rowheader", name="LLM", exact=True))
    expect(llm_rows.get_by_role("cell", name=re.compile("^(failed|succeeded)$"))) \
        .to_have_text(["failed", "succeeded"])  # the first attempt stays on the timeline, before the retry
    expect(timeline.get_by_role("row").last).to_contain_text("succeeded")
    shoot(page, "retried")


def test_usage_per_app_and_month(page: Page, seeded: Seeded) -> None:
    sign_in(page, seeded.base_url)
    nav(page, "Usage")
    check_page_basics(page)
    month = f"{datetime.now(UTC):%Y-%m}"
    expect(page.get_by_role("heading", name=f"Usage in {month}")).to_be_visible()
    report = httpx.get(f"{seeded.base_url}/manage/v1/usage", params={"group_by": "app"},
                       headers=seeded.admin).json()["data"]
    table = page.get_by_role("table", name=re.compile("Per app"))
    expect(table.get_by_role("row")).to_have_count(1 + 2)
    for name, runs in (("hello", 2), ("single-llm", 3)):
        figures = next(r for r in report if r["name"] == name)
        assert figures["runs"] == runs
        row = table.get_by_role("row").filter(has=page.get_by_role("rowheader", name=name, exact=True))
        expect(row.get_by_role("cell")).to_have_text(
            [str(runs), str(figures["failed"]), str(figures["calls"]), str(figures["total_tokens"]),
             figures["total_price"], "", re.compile(r"\d+\.\d\d")])
    llm = next(r for r in report if r["name"] == "single-llm")
    assert llm["total_tokens"] > 0 and float(llm["total_price"]) > 0
    shoot(page, "usage")

    page.get_by_label("Month").fill("2001-02")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", name="Usage in 2001-02")).to_be_visible()
    expect(table.get_by_role("cell", name="No usage in 2001-02.")).to_be_visible()
    page.get_by_role("link", name="Next month (2001-03)").click()
    expect(page.get_by_role("heading", name="Usage in 2001-03")).to_be_visible()
