"""Kubernetes workloads of every stack: replicas, probes, limits, security, autoscaling, budgets, policies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from infra_harness import REPO, StackRun

from infra.platform.observability import alert_groups, dashboard_json
from infra.platform.quantity import cpu_millis, memory_mib
from infra.platform.spec import API_PORT, METRICS_PORT, WORKER_HEALTH_PORT, huey_queue_key
from infra.platform.worker import DRAIN_MARGIN_SECONDS
from infra.policy.rules import pod_spec


def _pod(run: StackRun, kind: str, name: str) -> dict[str, Any]:
    return run.k8s_named(kind, name)["spec"]["template"]["spec"]


def test_api_deployment_contract(any_stack: StackRun) -> None:
    api = any_stack.k8s_named("Deployment", "trellis-api")
    cfg = any_stack.config
    assert api["spec"]["replicas"] == cfg.api.replicas >= 2
    assert api["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    (c,) = api["spec"]["template"]["spec"]["containers"]
    assert c["command"] == ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http": API_PORT, "metrics": METRICS_PORT}
    assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "metrics"}  # /ready is not on the HTTP port
    assert api["spec"]["template"]["spec"]["serviceAccountName"] == "trellis-api"
    assert c["resources"]["limits"] and c["resources"]["requests"]
    zones = api["spec"]["template"]["spec"]["topologySpreadConstraints"][0]
    assert zones["topologyKey"] == "topology.kubernetes.io/zone"
    assert zones["whenUnsatisfiable"] == ("DoNotSchedule" if cfg.is_prod else "ScheduleAnyway")


def test_prod_runs_three_api_replicas(prod: StackRun) -> None:
    assert prod.k8s_named("Deployment", "trellis-api")["spec"]["replicas"] == 3


def test_worker_deployment_contract(any_stack: StackRun) -> None:
    pod = _pod(any_stack, "Deployment", "trellis-worker")
    cfg = any_stack.config
    assert any_stack.k8s_named("Deployment", "trellis-worker")["spec"]["replicas"] == 3
    (c,) = pod["containers"]
    assert c["command"] == ["python", "-m", "worker.main"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/health" and c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert c["ports"][0]["containerPort"] == WORKER_HEALTH_PORT
    assert pod["terminationGracePeriodSeconds"] == cfg.worker.drain_seconds + DRAIN_MARGIN_SECONDS
    config = any_stack.k8s_named("ConfigMap", "trellis-config")["data"]
    assert config["WORKER_DRAIN_SECONDS"] == str(cfg.worker.drain_seconds)
    assert config["HUEY_NAME"] == "trellis" and config["OBJECT_STORE_URL"].startswith("s3://")


def test_every_app_container_is_hardened(any_stack: StackRun) -> None:
    for rec in any_stack.k8s():
        pod = pod_spec(rec.type, rec.inputs)
        if pod is None:
            continue
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for c in pod.get("initContainers", []) + pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}


def test_deployments_wait_for_the_migration(any_stack: StackRun) -> None:
    job = [r for r in any_stack.k8s("Job") if r.inputs["metadata"]["name"].startswith("trellis-migrate-")]
    assert job and job[0].inputs["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "flask", "--app", "wsgi", "db-upgrade"]
    for rec in any_stack.k8s("Deployment"):
        assert job[0].name in rec.depends_on


def test_api_hpa_on_cpu(any_stack: StackRun) -> None:
    hpa = any_stack.k8s_named("HorizontalPodAutoscaler", "trellis-api")["spec"]
    assert hpa["minReplicas"] == any_stack.config.api.replicas
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"


def test_worker_scales_on_the_huey_queue_with_keda(aws_stack: StackRun) -> None:
    spec = aws_stack.k8s_named("ScaledObject", "trellis-worker")["spec"]
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (3, 10)
    redis = next(t for t in spec["triggers"] if t["type"] == "redis")
    assert redis["metadata"]["listName"] == huey_queue_key("trellis") == "huey.redis.trellis"
    assert redis["metadata"]["listLength"] == "100" and redis["metadata"]["enableTLS"] == "true"
    assert redis["metadata"]["address"].endswith(":6379")
    auth = aws_stack.k8s_named("TriggerAuthentication", "trellis-redis")["spec"]["secretTargetRef"][0]
    assert auth["parameter"] == "password" and aws_stack.k8s_named("Secret", auth["name"])
    assert not [h for h in aws_stack.k8s("HorizontalPodAutoscaler") if h.inputs["metadata"]["name"] == "trellis-worker"]


def test_worker_falls_back_to_cpu_hpa_without_keda(local: StackRun) -> None:
    assert not local.k8s("ScaledObject")
    hpa = local.k8s_named("HorizontalPodAutoscaler", "trellis-worker")["spec"]
    assert hpa["scaleTargetRef"]["name"] == "trellis-worker" and hpa["metrics"][0]["resource"]["name"] == "cpu"


def test_disruption_budgets(any_stack: StackRun) -> None:
    for name in ("trellis-api", "trellis-worker"):
        pdb = any_stack.k8s_named("PodDisruptionBudget", name)["spec"]
        assert pdb["maxUnavailable"] == 1
        assert pdb["selector"]["matchLabels"]["app.kubernetes.io/component"] == name.split("-")[1]


def test_network_policies_default_deny_and_internet_only_for_worker_and_api(any_stack: StackRun) -> None:
    policies = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in any_stack.k8s("NetworkPolicy")}
    assert policies["trellis-default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    internet = [n for n, s in policies.items() for rule in s.get("egress", []) for peer in rule.get("to", [])
                if peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0"]
    assert sorted(internet) == ["trellis-api-model-egress", "trellis-worker-internet-egress"]
    worker = policies["trellis-worker-internet-egress"]
    assert worker["podSelector"]["matchExpressions"][0]["values"] == ["worker"]
    assert "169.254.169.254/32" in worker["egress"][0]["to"][0]["ipBlock"]["except"]
    api = policies["trellis-api-model-egress"]
    assert api["podSelector"]["matchExpressions"][0]["values"] == ["api"]
    assert [p["port"] for p in api["egress"][0]["ports"]] == [443]  # the model provider, over TLS only
    ingress = policies["trellis-api-ingress"]["ingress"]
    assert [p["port"] for p in ingress[0]["ports"]] == [API_PORT]  # the edge reaches the HTTP port only
    assert [p["port"] for p in ingress[1]["ports"]] == [METRICS_PORT]  # Prometheus the metrics port only
    assert ingress[1]["from"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
    assert {p["port"] for p in policies["trellis-database-egress"]["egress"][0]["ports"]} == {5432}
    assert {p["port"] for p in policies["trellis-redis-egress"]["egress"][0]["ports"]} == {6379}


def test_local_ingress_uses_the_clusters_class(local: StackRun) -> None:
    ing = local.k8s_named("Ingress", "trellis")
    assert ing["spec"]["ingressClassName"] == local.config.features.ingress_class == "nginx"
    assert ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"  # SSE
    assert local.outputs["api_url"] == f"http://{local.config.domain}"


def test_backup_cronjob_dumps_to_the_bucket(any_stack: StackRun) -> None:
    cron = any_stack.k8s_named("CronJob", "trellis-backup")["spec"]
    pod = cron["jobTemplate"]["spec"]["template"]["spec"]
    assert cron["concurrencyPolicy"] == "Forbid"
    assert "pg_dump" in pod["initContainers"][0]["command"][-1]
    assert "aws s3 cp" in pod["containers"][0]["command"][-1] and "backups/" in pod["containers"][0]["command"][-1]


def _ops_alert_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load((REPO / "ops/prometheus/alerts.yml").read_text())["groups"]
    return groups


def _ops_dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads((REPO / "ops/grafana/trellis.json").read_text())
    return dashboard


def test_observability_ships_the_ops_files_as_they_are(aws_stack: StackRun) -> None:
    monitor = aws_stack.k8s_named("ServiceMonitor", "trellis")["spec"]
    # Only the metrics ports are scraped: the API's HTTP port (the one the Ingress routes to) serves no metrics.
    assert {e["port"] for e in monitor["endpoints"]} == {"metrics"}
    rule = aws_stack.k8s_named("PrometheusRule", "trellis")
    assert rule["metadata"]["namespace"] == aws_stack.config.namespace
    assert rule["spec"]["groups"] == _ops_alert_groups()
    shipped = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert shipped == {r["alert"] for g in _ops_alert_groups() for r in g["rules"]}
    assert {"TrellisApiErrorRate", "TrellisWorkerHeartbeatStale"} <= shipped  # the file's, not a second copy
    dashboard = aws_stack.k8s_named("ConfigMap", "trellis-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["trellis.json"]) == _ops_dashboard()


def test_local_ships_the_dashboard_without_operator_resources(local: StackRun) -> None:
    assert not local.k8s("ServiceMonitor") and not local.k8s("PrometheusRule")
    dashboard = local.k8s_named("ConfigMap", "trellis-dashboard")
    assert json.loads(dashboard["data"]["trellis.json"]) == _ops_dashboard()


def test_ops_files_are_read_on_each_call(tmp_path: Path) -> None:
    (tmp_path / "prometheus").mkdir()
    (tmp_path / "grafana").mkdir()
    alerts = tmp_path / "prometheus/alerts.yml"
    alerts.write_text("groups:\n  - name: g\n    rules:\n      - {alert: A, expr: up == 0}\n")
    (tmp_path / "grafana/trellis.json").write_text('{"uid": "x", "panels": []}')
    assert alert_groups(tmp_path) == [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0"}]}]
    assert dashboard_json(tmp_path) == '{"uid": "x", "panels": []}'  # byte for byte
    alerts.write_text(alerts.read_text() + "      - {alert: B, expr: up == 1, for: 5m}\n")
    assert [r["alert"] for r in alert_groups(tmp_path)[0]["rules"]] == ["A", "B"]


@pytest.mark.parametrize("text", ["", "rules: []", "groups: []", "groups: [{name: g}]",
                                  "groups: [{rules: []}]", "groups: [[]]"])
def test_a_malformed_alerts_file_is_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "prometheus").mkdir()
    (tmp_path / "prometheus/alerts.yml").write_text(text)
    with pytest.raises(ValueError, match="alerts.yml"):
        alert_groups(tmp_path)


@pytest.mark.parametrize("text", ["[]", "{not json", ""])
def test_a_malformed_dashboard_is_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "grafana").mkdir()
    (tmp_path / "grafana/trellis.json").write_text(text)
    with pytest.raises(ValueError):
        dashboard_json(tmp_path)


def test_a_missing_ops_file_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        alert_groups(tmp_path)
    with pytest.raises(FileNotFoundError):
        dashboard_json(tmp_path)


def test_namespace_rbac_binds_only_this_environment(any_stack: StackRun) -> None:
    env = any_stack.config.environment
    ns = any_stack.k8s_named("Namespace", f"trellis-{env}")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert not any_stack.k8s("ClusterRoleBinding") and not any_stack.k8s("ClusterRole")
    (binding,) = [r.inputs for r in any_stack.k8s("RoleBinding")]
    assert binding["roleRef"]["kind"] == "Role" and binding["metadata"]["namespace"] == f"trellis-{env}"
    assert [s["name"] for s in binding["subjects"]] == [f"trellis:{env}:developers"]
    verbs = {v for rule in any_stack.k8s_named("Role", "trellis-developer")["rules"] for v in rule["verbs"]}
    assert ("create" in verbs) is (env != "prod")  # no exec or job creation in prod


def _pod_totals(run: StackRun) -> dict[str, int]:
    """Worst-case sums over every pod the namespace can hold (autoscalers at max + one surge pod)."""
    totals = {"cpu": 0, "memory": 0, "pods": 0}
    maxima = {"trellis-api": run.config.api.max_replicas + 1, "trellis-worker": run.config.worker.max_replicas + 1}
    for rec in run.k8s():
        pod = pod_spec(rec.type, rec.inputs)
        if pod is None:
            continue
        count = maxima.get(rec.inputs["metadata"]["name"], 1)
        totals["pods"] += count
        for c in pod.get("initContainers", []) + pod["containers"]:
            totals["cpu"] += count * cpu_millis(c["resources"]["limits"]["cpu"])
            totals["memory"] += count * memory_mib(c["resources"]["limits"]["memory"])
    return totals


def test_resource_quota_fits_the_worst_case(any_stack: StackRun) -> None:
    hard = any_stack.k8s_named("ResourceQuota", "trellis-quota")["spec"]["hard"]
    need = _pod_totals(any_stack)
    assert cpu_millis(hard["limits.cpu"]) >= need["cpu"]
    assert memory_mib(hard["limits.memory"]) >= need["memory"]
    assert int(hard["pods"]) >= need["pods"]
    limits = any_stack.k8s_named("LimitRange", "trellis-limits")["spec"]["limits"][0]
    assert limits["default"] and limits["defaultRequest"] and limits["max"]
