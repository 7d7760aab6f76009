"""Triggers end to end on embedded backends (Huey immediate): a schedule stored at import and fired by the
workers' periodic task as an ordinary run, claimed once however many workers fire; a webhook with its own
unguessable URL whose request parts become the run's inputs."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from app.engine.nodes.trigger import VisualConfig, visual_cron
from app.errors import InvalidParam
from tests.conftest import ADMIN_HEADERS, import_app
from tests.corpus import fixture


def triggers_of(client, app_id):
    response = client.get(f"/manage/v1/apps/{app_id}/triggers", headers=ADMIN_HEADERS)
    assert response.status_code == 200
    return response.get_json()["data"]


@pytest.mark.parametrize(("frequency", "config", "cron"), [
    ("hourly", {"on_minute": 15}, "15 * * * *"),
    ("daily", {"time": "2:30 PM"}, "30 14 * * *"),
    ("daily", {"time": "12:05 AM"}, "5 0 * * *"),
    ("weekly", {"time": "08:00", "weekdays": ["mon", "fri"]}, "0 8 * * 1,5"),
    ("monthly", {"time": "9:00 AM", "monthly_days": [1, 15, "last"]}, "0 9 1,15,L * *"),
])
def test_visual_schedules_become_cron(frequency, config, cron):
    assert visual_cron(frequency, VisualConfig(**config)) == cron


def test_impossible_schedules_are_refused():
    with pytest.raises(InvalidParam):
        visual_cron("daily", VisualConfig(time="13:00 PM"))
    with pytest.raises(InvalidParam):
        visual_cron("yearly", VisualConfig())


def test_bad_cron_or_time_zone_is_a_400_at_import(client):
    for bad in ("cron_expression: 'every day'", "timezone: Mars/Olympus"):
        dsl = fixture("trigger_schedule.yml").replace("mode: visual", "mode: cron\n        " + bad
                                                      if "cron" in bad else "mode: visual")
        if "timezone" in bad:
            dsl = dsl.replace("timezone: Asia/Shanghai", bad)
        response = client.post("/manage/v1/apps", data=dsl,
                               headers={**ADMIN_HEADERS, "Content-Type": "application/yaml"})
        assert response.status_code == 400, bad
        assert response.get_json()["code"] == "invalid_param"


def test_schedule_is_stored_at_import_and_fires_once(client, container):
    app_id = import_app(client, fixture("trigger_schedule.yml"))
    [schedule] = triggers_of(client, app_id)
    assert schedule["kind"] == "schedule" and schedule["cron"] == "30 9 * * *"
    assert schedule["timezone"] == "Asia/Shanghai"
    due = datetime.fromtimestamp(schedule["next_fire_at"], UTC)
    assert (due.hour, due.minute) == (1, 30)  # 9:30 in Shanghai is 1:30 UTC
    assert not container.triggers.fire_due(due - timedelta(seconds=1))
    fired = container.triggers.fire_due(due + timedelta(seconds=5))
    assert len(fired) == 1
    run = container.runs.load(fired[0])
    assert run.status == "succeeded", run.error
    assert run.outputs == {"report": f"report for {due.isoformat()}"}
    # A second worker firing at the same moment finds it claimed; the next firing is a day later.
    assert container.triggers.fire_due(due + timedelta(seconds=6)) == []
    [after] = triggers_of(client, app_id)
    assert after["next_fire_at"] == schedule["next_fire_at"] + 86400


def test_the_workers_fire_schedules_every_minute(container):
    periodic = container.huey.read_periodic(datetime(2026, 1, 1, 12, 7))
    assert "fire_schedules" in [task.name for task in periodic]


def test_reimport_keeps_the_webhook_url_and_removing_the_trigger_drops_it(client, container):
    app_id = import_app(client, fixture("trigger_webhook.yml"))
    [hook] = triggers_of(client, app_id)
    assert hook["kind"] == "webhook" and len(hook["id"]) >= 32
    assert hook["webhook_path"] == f"/triggers/webhook/{hook['id']}"
    response = client.put(f"/manage/v1/apps/{app_id}", data=fixture("trigger_webhook.yml"),
                          headers={**ADMIN_HEADERS, "Content-Type": "application/yaml"})
    assert response.status_code == 200, response.get_json()
    assert triggers_of(client, app_id) == [hook]
    client.put(f"/manage/v1/apps/{app_id}", data=fixture("trigger_schedule.yml"),
               headers={**ADMIN_HEADERS, "Content-Type": "application/yaml"})
    assert [t["kind"] for t in triggers_of(client, app_id)] == ["schedule"]
    assert client.post(hook["webhook_path"], json={"order_id": "1"}).status_code == 404
    assert client.delete(f"/manage/v1/apps/{app_id}", headers=ADMIN_HEADERS).status_code == 204
    assert container.triggers.fire_due(datetime.now(UTC) + timedelta(days=2)) == []  # gone with its app


def test_webhook_call_starts_a_run_with_the_request_mapped_to_variables(client, container):
    app_id = import_app(client, fixture("trigger_webhook.yml"))
    [hook] = triggers_of(client, app_id)
    response = client.post(hook["webhook_path"] + "?shop=north", json={"order_id": "A-7", "total": 12.5},
                           headers={"X-Signature": "sig-1", "Authorization": "Bearer caller-secret"})
    assert response.status_code == 202
    body = response.get_json()
    assert body["received"] is True and body["workflow_run_id"]
    run = container.runs.load(body["workflow_run_id"])
    assert run.status == "succeeded", run.error
    assert run.outputs == {"note": "north order A-7 total 12.5 signed sig-1"}
    raw = run.inputs["_webhook_raw"]
    assert raw["query_params"] == {"shop": "north"} and raw["body"] == {"order_id": "A-7", "total": 12.5}
    assert "caller-secret" not in json.dumps(run.inputs)


def test_webhook_refuses_bad_calls(client):
    app_id = import_app(client, fixture("trigger_webhook.yml"))
    [hook] = triggers_of(client, app_id)
    missing = client.post(hook["webhook_path"] + "?shop=north", json={"total": 1})
    assert missing.status_code == 400 and "order_id" in missing.get_json()["message"]
    assert client.get(hook["webhook_path"] + "?shop=north").status_code == 400
    unknown = client.post("/triggers/webhook/not-a-real-id", json={"order_id": "1"})
    assert unknown.status_code == 404 and unknown.get_json()["code"] == "not_found"


def test_concurrent_firing_on_postgres_starts_one_run(make_settings, postgres_url):
    from app import create_app
    from tests.conftest import ADMIN, build_test_container

    container = build_test_container(make_settings(database_url=postgres_url))
    flask_app = create_app(container.settings, container)
    container.accounts.ensure_admin_token(ADMIN)
    client = flask_app.test_client()
    app_id = import_app(client, fixture("trigger_schedule.yml"))
    [schedule] = triggers_of(client, app_id)
    moment = datetime.fromtimestamp(schedule["next_fire_at"], UTC) + timedelta(seconds=1)
    with ThreadPoolExecutor(4) as pool:  # four workers' periodic tasks at the same minute
        fired = [run for runs in pool.map(lambda _: container.triggers.fire_due(moment), range(4)) for run in runs]
    assert len(fired) == 1
    assert container.runs.load(fired[0]).status == "succeeded"
    container.close()
