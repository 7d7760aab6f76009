"""`make dashboard`: docs/img/dashboard.png, the Grafana dashboard `ops/grafana/trellis.json` drawn from real
metrics of a load run (Grafana itself cannot be installed here; Prometheus can).

It starts the production path with the bench harness (gunicorn API, three workers, the machine's Postgres and
Redis, three local OpenAI-protocol servers as their own processes: fast, slow-streaming and flaky) and a private
Prometheus that scrapes the API's `/metrics` and every worker's health port every 2 s, with
`ops/prometheus/alerts.yml` loaded. It then drives about two and a half minutes of mixed load: blocking and
streaming LLM runs at rising concurrency, runs that fail (a flaky model, an http-request node to a closed port), an
app that spends its budget, 4xx requests, and one worker paused past its lease so the reaper hands its runs to
the others. Finally it evaluates every panel's own PromQL over the load window with `query_range` and draws the
dashboard (`bench/panels.py`). Raw query results: `var/dashboard/queries.json`; `--render-only` redraws from
them and `--requery` evaluates the dashboard again over the run's samples, kept in `var/dashboard/prometheus/`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench import flows
from bench.measure import Sample, one_run
from bench.panels import render
from bench.prometheus import Prometheus, expand, grafana_intervals, private_prometheus
from bench.run import llm_process
from bench.stack import ROOT, Stack, free_port, running_stack, scratch_postgres

ADMIN = "adm-dashboard"
DASHBOARD = ROOT / "ops" / "grafana" / "trellis.json"
ALERTS = ROOT / "ops" / "prometheus" / "alerts.yml"
SCRAPE_SECONDS = 2.0  # 1 s scrapes time out on a loaded 2-core machine and leave holes
# What Grafana's data source would be told the scrape interval is: the floor of $__interval, so a
# $__rate_interval spans 4 x 5 s and the lines read like a production dashboard's rather than 4-sample noise.
GRAFANA_SCRAPE_SECONDS = 5.0
LEASE_SECONDS = 8.0
# (seconds, blocking clients of support-bot, streaming clients of report-writer): the third phase holds more
# runs than the 3 x 8 worker slots, so the queue grows; a worker is paused during it.
PHASES = [(30, 3, 2), (40, 10, 5), (40, 20, 14), (35, 4, 2)]
PAUSE_AFTER, PAUSE_SECONDS = 75.0, 3 * LEASE_SECONDS
TAIL_SECONDS = 15.0
PRICES = {"currency": "USD", "models": {"fast-chat": {"prompt": 0.15, "completion": 0.6},
                                        "long-form": {"prompt": 2.5, "completion": 10.0},
                                        "triage-small": {"prompt": 0.5, "completion": 1.5}}}


@dataclass(frozen=True)
class App:
    name: str
    id: str
    headers: dict[str, str]


@dataclass
class Tally:
    """Outcomes of the background lane ("triage succeeded", "4xx 401"...), counted across threads."""

    counts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: str) -> None:
        with self.lock:
            self.counts[key] += 1


def provision(base_url: str, name: str, dsl: str, budget: dict[str, Any] | None = None) -> App:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        created = client.post("/manage/v1/apps", content=dsl, headers={**admin, "Content-Type": "application/yaml"})
        created.raise_for_status()
        app_id = created.json()["id"]
        if budget:
            client.patch(f"/manage/v1/apps/{app_id}", json=budget, headers=admin).raise_for_status()
        token = client.post(f"/manage/v1/apps/{app_id}/api-keys", headers=admin).json()["token"]
    return App(name, app_id, {"Authorization": f"Bearer {token}"})


def provision_all(base_url: str) -> dict[str, App]:
    # Budgets: support-bot and report-writer end well short of theirs (throughput varies threefold with the
    # machine's load, and a spent budget would turn their lanes into 429s); trial-app spends all of its tokens
    # within a few runs and is refused from then on.
    return {app.name: app for app in (
        provision(base_url, "support-bot", flows.llm_flow("support-bot", "openai", "fast-chat"),
                  {"monthly_token_budget": 250_000}),
        provision(base_url, "report-writer", flows.llm_template_flow("report-writer", "writer", "long-form"),
                  {"monthly_cost_budget": "0.40"}),
        provision(base_url, "ticket-triage", flows.llm_flow("ticket-triage", "flaky", "triage-small")),
        provision(base_url, "webhook-relay", flows.http_flow("webhook-relay")),
        provision(base_url, "trial-app", flows.llm_flow("trial-app", "openai", "fast-chat"),
                  {"monthly_token_budget": 600}))}


def clients(base_url: str, app: App, mode: str, count: int, until: float, sample: Sample) -> list[threading.Thread]:
    """`count` threads running `app` back to back in `mode` until the monotonic time `until`."""
    lock = threading.Lock()

    def loop() -> None:
        with httpx.Client(base_url=base_url, timeout=120) as client:
            while time.monotonic() < until:
                one_run(client, app.headers, {"q": "summarise the ticket please"}, mode, sample, lock)

    return [threading.Thread(target=loop, daemon=True) for _ in range(count)]


def background(base_url: str, apps: dict[str, App], urls: tuple[str, str], stop: threading.Event,
               tally: Tally) -> None:
    """One client cycling through the small lanes: a flaky-model run, a webhook run (to a live URL or a closed
    port, alternately), a run of the budget-capped app, a 4xx request and a run-status read. The bad-key 401
    comes every eighth cycle only: past 20 failed authentications a minute the API refuses this client (all of
    the load comes from one address) with 429 until the minute ends."""
    last_run = ""
    bad = [("POST", "/v1/workflows/run", {"Authorization": "Bearer app-not-a-key"}, {"inputs": {"q": "x"}}),
           ("POST", "/v1/workflows/run", apps["support-bot"].headers, {"inputs": {}, "user": "u"}),
           ("GET", "/v1/workflows/run/00000000-0000-0000-0000-000000000000", apps["support-bot"].headers, None),
           ("GET", "/v1/no-such-endpoint", apps["support-bot"].headers, None)]
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for cycle in itertools.count():
            if stop.is_set():
                return
            try:
                for name, inputs in (("ticket-triage", {"q": "route this ticket"}),
                                     ("webhook-relay", {"url": urls[cycle % 2]}), ("trial-app", {"q": "hello"})):
                    response = client.post("/v1/workflows/run", headers=apps[name].headers,
                                           json={"inputs": inputs, "response_mode": "blocking", "user": "bg"})
                    body = response.json()
                    last_run = body.get("workflow_run_id", last_run)
                    status = body["data"]["status"] if response.status_code == 200 else response.status_code
                    tally.add(f"{name} {status}")
                method, path, headers, json_body = bad[0] if cycle % 8 == 0 else bad[1 + cycle % (len(bad) - 1)]
                tally.add(f"4xx {client.request(method, path, headers=headers, json=json_body).status_code}")
                if last_run:
                    client.get(f"/v1/workflows/run/{last_run}", headers=apps["webhook-relay"].headers)
            except httpx.HTTPError as exc:  # counted and shown in the summary; the lane goes on
                tally.add(f"client error {type(exc).__name__}")
            stop.wait(0.3)


def pause_worker(stack: Stack, after: float, seconds: float, log: list[str]) -> threading.Thread:
    """SIGSTOP the worker holding the most runs `after` seconds from now for `seconds`, then SIGCONT it: its
    leases expire, the reaper re-queues its runs elsewhere, and on waking its heartbeat finds them lost."""
    def act() -> None:
        time.sleep(after)
        # Worker ids are host:pid:random (worker/runtime.py).
        held = stack.query("SELECT lease_owner, count(*) FROM workflow_runs WHERE status = 'running' "
                           "AND lease_owner IS NOT NULL GROUP BY lease_owner ORDER BY count(*) DESC")
        pid, runs = (int(held[0][0].split(":")[1]), held[0][1]) if held else (stack.workers[-1].pid, 0)
        worker = next((w for w in stack.workers if w.pid == pid), stack.workers[-1])
        worker.send_signal(signal.SIGSTOP)
        log.append(f"paused worker pid {worker.pid}, holding {runs} runs, for {seconds:.0f} s")
        time.sleep(seconds)
        worker.send_signal(signal.SIGCONT)

    return threading.Thread(target=act, daemon=True)


def drive(stack: Stack, apps: dict[str, App], urls: tuple[str, str]) -> dict[str, Any]:
    """Run the phases; returns what was sent and how it ended, for the summary."""
    stop, tally, events = threading.Event(), Tally(), []
    samples = {"support-bot blocking": Sample(), "report-writer streaming": Sample()}
    bg = threading.Thread(target=background, args=(stack.base_url, apps, urls, stop, tally), daemon=True)
    bg.start()
    pause = pause_worker(stack, PAUSE_AFTER, PAUSE_SECONDS, events)
    pause.start()
    for seconds, blocking, streaming in PHASES:
        until = time.monotonic() + seconds
        threads = [*clients(stack.base_url, apps["support-bot"], "blocking", blocking, until,
                            samples["support-bot blocking"]),
                   *clients(stack.base_url, apps["report-writer"], "streaming", streaming, until,
                            samples["report-writer streaming"])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        events.append(f"phase of {seconds} s: {blocking} blocking + {streaming} streaming clients done")
    stop.set()
    bg.join(timeout=60)
    pause.join()
    return {"events": events, "background": dict(tally.counts),
            "lanes": {k: {"succeeded": len(s.latencies), "failed": s.errors} for k, s in samples.items()}}


def evaluate(prometheus: Prometheus, dashboard: dict[str, Any], start: float, end: float) -> list[dict[str, Any]]:
    """Every panel's targets, expanded like Grafana and evaluated over [start, end]."""
    variables = {**grafana_intervals(end - start, 600, GRAFANA_SCRAPE_SECONDS), "datasource": "prometheus"}
    panels = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        targets = []
        for target in panel.get("targets", []):
            expr = expand(target["expr"], variables)
            result = prometheus.query_range(expr, start, end, SCRAPE_SECONDS)
            targets.append({**target, "expanded": expr, "result": result})
        panels.append({"id": panel["id"], "title": panel["title"], "targets": targets})
    return panels


def fired_alerts(prometheus: Prometheus, start: float, end: float) -> list[str]:
    result = prometheus.query_range('max by (alertname) (ALERTS{alertstate="firing"})', start, end, SCRAPE_SECONDS)
    return sorted(series["metric"]["alertname"] for series in result)


@contextmanager
def llm_servers() -> Iterator[tuple[str, str, str]]:
    """Fast (100 ms, 30 tokens at once), slow (600 ms to the first of 60 tokens at 60/s) and flaky (30 % HTTP
    400) OpenAI-protocol servers."""
    with llm_process(0.1, 30) as fast, llm_process(0.6, 60, tps=60) as slow, \
            llm_process(0.2, 20, extra=("--fail-status", "400", "--fail-ratio", "0.3")) as flaky:
        yield fast, slow, flaky


def measure(raw_path: Path, tsdb: Path) -> dict[str, Any]:
    """Start everything, drive the load, evaluate the dashboard; writes and returns the raw results. The
    samples stay in `tsdb` for `requery`, the processes' logs in `home/` next to `raw_path`."""
    dashboard = json.loads(DASHBOARD.read_text())
    home = raw_path.parent / "home"
    for folder in (home, tsdb):
        shutil.rmtree(folder, ignore_errors=True)
    home.mkdir(parents=True)
    with ExitStack() as stack_of:
        fast, slow, flaky = stack_of.enter_context(llm_servers())
        routes = home / "providers.yml"
        routes.write_text(yaml.safe_dump({"providers": {"writer": {"base_url": slow}, "flaky": {"base_url": flaky}}}))
        env = {**stack_of.enter_context(scratch_postgres()), "ADMIN_TOKEN": ADMIN, "OPENAI_API_KEY": "sk-dashboard",
               "OPENAI_BASE_URL": fast, "LLM_PROVIDERS_FILE": str(routes), "PRICING": json.dumps(PRICES),
               "EGRESS_ALLOW": "127.0.0.1", "WORKER_THREADS": "8", "GUNICORN_THREADS": "64",
               "LEASE_SECONDS": str(LEASE_SECONDS), "REAPER_INTERVAL_SECONDS": "2", "LOG_LEVEL": "WARNING"}
        stack = stack_of.enter_context(running_stack(home, env, workers=3))
        jobs = {"trellis-api": [stack.base_url.removeprefix("http://")],
                "trellis-worker": [f"127.0.0.1:{port}" for port in stack.health_ports]}
        prometheus = stack_of.enter_context(private_prometheus(jobs, SCRAPE_SECONDS, [ALERTS], data=tsdb))
        apps = provision_all(stack.base_url)
        start = time.time()
        summary = drive(stack, apps, (f"{fast}/models", f"http://127.0.0.1:{free_port()}/"))
        time.sleep(TAIL_SECONDS)  # the queue drains and in-flight gauges return to zero on the picture
        end = time.time()
        time.sleep(2 * SCRAPE_SECONDS)
        raw = {"start": start, "end": end, "app_names": {a.id: a.name for a in apps.values()}, **summary,
               **results(prometheus, dashboard, start, end)}
    raw_path.write_text(json.dumps(raw, indent=1))
    return raw


def requery(raw_path: Path, tsdb: Path) -> dict[str, Any]:
    """Evaluate the (possibly edited) dashboard again over the kept samples of the last load run."""
    raw = json.loads(raw_path.read_text())
    with private_prometheus({}, data=tsdb) as prometheus:
        raw.update(results(prometheus, json.loads(DASHBOARD.read_text()), raw["start"], raw["end"]))
    raw_path.write_text(json.dumps(raw, indent=1))
    return raw


def results(prometheus: Prometheus, dashboard: dict[str, Any], start: float, end: float) -> dict[str, Any]:
    return {"variables": grafana_intervals(end - start, 600, GRAFANA_SCRAPE_SECONDS),
            "panels": evaluate(prometheus, dashboard, start, end),
            "alerts_fired": fired_alerts(prometheus, start, end)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "dashboard.png")
    parser.add_argument("--raw", type=Path, default=ROOT / "var" / "dashboard" / "queries.json")
    parser.add_argument("--render-only", action="store_true", help="redraw from --raw without a load run")
    parser.add_argument("--requery", action="store_true",
                        help="evaluate the dashboard again over the last run's kept samples, then redraw")
    args = parser.parse_args()
    tsdb = args.raw.parent / "prometheus"
    args.raw.parent.mkdir(parents=True, exist_ok=True)
    if args.render_only:
        raw = json.loads(args.raw.read_text())
    else:
        raw = requery(args.raw, tsdb) if args.requery else measure(args.raw, tsdb)
    dashboard = json.loads(DASHBOARD.read_text())
    render(dashboard, raw, args.out)
    empty = [f"{p['title']} [{t['refId']}]: {t['expanded']}" for p in raw["panels"] for t in p["targets"]
             if not t["result"]]
    print(json.dumps({k: raw[k] for k in ("events", "background", "lanes", "alerts_fired") if k in raw}, indent=1))
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    if empty:
        print("queries without data (a dashboard or metrics bug):\n  " + "\n  ".join(empty), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
