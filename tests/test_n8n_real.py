"""Against a real n8n, 1.x on SQLite and 2.x on PostgreSQL with a table prefix (`make test-n8n`):
workflows are created in n8n and triggered over their webhooks — successes, an HTTP 500, a 401, a
refused connection, an HTTP call that times out, a Code node that throws, a run waiting in a Wait
node — and Flowtower mirrors them through n8n's API and through its database. The mirror must
show what n8n itself reports: the same executions, statuses, durations, node runs, failing nodes,
and the error types a person expects; a second sync adds nothing. With n8n's external hook
installed and Flowtower served as in production (Daphne, a Celery worker, Redis), a failing
execution is an alert within seconds, without any poll. A workflow n8n deactivates is an alert."""

import os
import secrets
import sys
import time
from datetime import datetime

import pytest
from django.conf import settings

from alerts.models import AlertRule
from alerts.rules.registry import validate_rule
from monitoring.models import (Alert, Execution, ExecutionLog, PerformanceMetric, ServiceToken, Team, Workflow,
                               WorkflowError, hash_token)
from n8n_mirror import sync
from n8n_mirror.models import N8nInstance

from tests.child_process import Process
from tests.daphne_server import DaphneServer, database_url
from tests.n8n_server import HOOK_FILE, VERSIONS, N8nServer, TargetServer, free_port, workflow_definitions

pytestmark = [pytest.mark.n8n_live, pytest.mark.django_db(transaction=True)]

HOOK_INSTANCE_ID = 880_001  # the hook's URL names the instance; n8n starts before the test makes it

# webhook path -> the body it is posted (Customer import fails without a customer_id).
TRIGGERS = [("order-sync", {}), ("order-sync", {}), ("order-sync", {}), ("invoice-fetch", {}),
            ("crm-check", {}), ("warehouse-ping", {}), ("customer-import", {}),
            ("customer-import", {"customer_id": 7}), ("approval", {}), ("nightly-report", {}), ("partner-api", {}), ("refund", {})]

# What a person expects to read for each failing workflow: failing node and error type.
EXPECTED_FAILURES = {
    "Invoice fetch": ("Get invoices", "unknown", "500"),  # an HTTP 500: the remote service failed
    "CRM token check": ("Call CRM", "permission", "401"),
    "Warehouse ping": ("Ping warehouse", "network", "ECONNREFUSED"),
    "Customer import": ("Validate customer", "unknown", ""),  # thrown in a Code node
    "Partner API": ("Call partner", "timeout", "ECONNABORTED"),
}


def celery_worker(env, log_path):
    """A real Celery worker (solo pool) on the test's Redis and database, as production runs one."""
    return Process([sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--loglevel=WARNING",
                    "--without-gossip", "--without-mingle", "--without-heartbeat"], env, log_path)


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda v: f"n8n-{v[0]}-{v[1]}-data-in-{v[3]}")
def live(request, django_db_setup):
    """A real n8n with the workflows created and triggered once, its external hook pointed at a
    Flowtower (Daphne) that the hook test starts, and the n8n-side truth."""
    version, database, prefix, data_storage = request.param
    target = TargetServer()
    production_env = {"DATABASE_URL": database_url(settings.DATABASES["default"]),
                      "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"),
                      "CELERY_TASK_ALWAYS_EAGER": "false", "DJANGO_SETTINGS_MODULE": "config.settings_test"}
    flowtower = DaphneServer(env=production_env)
    hook_token = "ft_" + secrets.token_urlsafe(32)
    n8n = N8nServer(version, database=database, table_prefix=prefix, data_storage=data_storage, env={
        "EXTERNAL_HOOK_FILES": str(HOOK_FILE), "FLOWTOWER_HOOK_TOKEN": hook_token,
        "FLOWTOWER_URL": f"{flowtower.url}/api/v1/integrations/n8n/{HOOK_INSTANCE_ID}/executions-finished",
    })
    try:
        n8n.start()
        workflows = {d["name"]: n8n.create_workflow(d) for d in workflow_definitions(target.url, free_port())}
        for path, body in TRIGGERS:
            n8n.trigger(path, body)
        n8n.wait_until_settled(len(TRIGGERS))
        yield {"n8n": n8n, "target": target, "flowtower": flowtower, "workflows": workflows,
               "hook_token": hook_token, "env": production_env, "version": version,
               "data_storage": data_storage}
    finally:
        flowtower.stop()
        n8n.stop()
        target.close()


def _team():
    return Team.objects.get_or_create(slug="ops", defaults={"name": "Ops"})[0]


def _api_instance(live, team, **fields):
    instance = N8nInstance(team=team, name="n8n", kind=N8nInstance.Kind.API, api_url=live["n8n"].url, **fields)
    instance.set_secrets(api_key=live["n8n"].api_key)
    instance.save()
    return instance


def _database_instance(live, team, with_api=False):
    """Read through n8n's database; `with_api`: also given n8n's API, for the executions whose
    data n8n keeps outside its database."""
    instance = N8nInstance(team=team, name="n8n-db", kind=N8nInstance.Kind.DATABASE,
                           table_prefix=live["n8n"].table_prefix, api_url=live["n8n"].url if with_api else "")
    instance.set_secrets(database_url=live["n8n"].database_location,
                         api_key=live["n8n"].api_key if with_api else None)
    instance.save()
    return instance


def _time(value):
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _n8n_truth(n8n):
    """What n8n reports of each execution, with its node data."""
    truth = {}
    for execution in n8n.executions(includeData="true"):
        result = (execution.get("data") or {}).get("resultData") or {}
        error = result.get("error") or {}
        truth[str(execution["id"])] = {
            "workflow_id": execution["workflowId"], "status": execution["status"], "mode": execution["mode"],
            "started_at": _time(execution.get("startedAt")), "stopped_at": _time(execution.get("stoppedAt")),
            "node_runs": sum(len(runs) for runs in (result.get("runData") or {}).values()),
            # The node n8n's editor marks failed: the one whose run has an error (n8n 2.x's
            # resultData.error of a Code node run in a task runner names no node).
            "custom_data": execution.get("customData") or {},
            "failing_node": (error.get("node") or {}).get("name") or next(
                (name for name, runs in (result.get("runData") or {}).items()
                 if any(run.get("error") for run in runs)), None),
        }
    return truth


def _assert_mirrors(instance, n8n, workflows):
    truth = _n8n_truth(n8n)
    mirrored = {e.external_id: e for e in Execution.objects.filter(workflow__source=instance.source)
                .select_related("workflow")}
    assert set(mirrored) == set(truth), "the same executions as n8n"
    assert {"order_id": "A-17"} in [e["custom_data"] for e in truth.values()], "n8n kept the custom data"
    names = {workflow_id: name for name, workflow_id in workflows.items()}
    for execution_id, expected in truth.items():
        execution = mirrored[execution_id]
        where = f"execution {execution_id} ({names[expected['workflow_id']]})"
        assert execution.workflow.external_id == expected["workflow_id"], where
        assert execution.state == expected["status"], where
        assert execution.mode == expected["mode"], where
        assert execution.started_at == expected["started_at"], where
        if expected["status"] in ("success", "error"):
            assert execution.stopped_at == expected["stopped_at"], where
            duration = (expected["stopped_at"] - expected["started_at"]).total_seconds() * 1000
            assert execution.duration_ms == round(duration), where
            assert PerformanceMetric.objects.filter(execution=execution).count() == 1, where
        else:  # waiting: n8n sets a stop time on a paused run, which is not an end
            assert execution.duration_ms is None, where
        assert ExecutionLog.objects.filter(execution=execution).count() == expected["node_runs"], where
        assert execution.metadata.get("n8n_custom_data", {}) == expected["custom_data"], where
        errors = list(WorkflowError.objects.filter(execution=execution))
        if expected["status"] == "error":
            failing_node, error_type, code = EXPECTED_FAILURES[execution.workflow.name]
            assert expected["failing_node"] == failing_node, f"{where}: n8n's own failing node"
            assert {(e.node_name, e.error_type) for e in errors} == {(failing_node, error_type)}, where
            assert {e.error_code for e in errors} == {code}, where
        else:
            assert errors == [], where
    return truth


def _counts(instance):
    source = instance.source
    return (Execution.objects.filter(workflow__source=source).count(),
            ExecutionLog.objects.filter(workflow__source=source).count(),
            WorkflowError.objects.filter(workflow__source=source).count(),
            PerformanceMetric.objects.filter(workflow__source=source).count())


def _assert_workflows(instance, workflows):
    mirrored = {w.external_id: w for w in Workflow.objects.filter(source=instance.source)}
    assert set(mirrored) == set(workflows.values())
    by_name = {w.name: w for w in mirrored.values()}
    assert by_name["Quarter-hourly digest"].expected_interval_minutes == 15  # from its Schedule Trigger
    assert by_name["Order sync"].expected_interval_minutes is None  # webhook-started: no schedule
    assert by_name["Manual cleanup"].active is False and by_name["Order sync"].active is True


def test_through_the_api_the_mirror_is_what_n8n_reports_and_a_second_sync_adds_nothing(live):
    instance = _api_instance(live, _team())
    result = sync.sync_instance(instance)
    assert result.ok, result.error
    truth = _assert_mirrors(instance, live["n8n"], live["workflows"])
    _assert_workflows(instance, live["workflows"])
    instance.refresh_from_db()
    assert instance.executions_mirrored == len(truth) and instance.last_error == ""
    assert instance.unfinished_ids == [i for i, e in truth.items() if e["status"] == "waiting"]
    before = _counts(instance)
    again = sync.sync_instance(instance)
    assert again.ok and again.executions == 0
    assert _counts(instance) == before


def test_through_the_database_the_mirror_is_what_n8n_reports_and_a_second_sync_adds_nothing(live):
    # Where n8n keeps execution data on the filesystem, the node data comes through its API.
    instance = _database_instance(live, _team(), with_api=live["data_storage"] != "database")
    result = sync.sync_instance(instance)
    assert result.ok, result.error
    _assert_mirrors(instance, live["n8n"], live["workflows"])
    _assert_workflows(instance, live["workflows"])
    before = _counts(instance)
    assert sync.sync_instance(instance).executions == 0
    assert sync.sync_instance(instance, full=True).ok
    assert _counts(instance) == before  # --full reads everything again and doubles nothing


def test_without_its_api_executions_whose_data_n8n_keeps_elsewhere_are_mirrored_without_node_data(live):
    if live["data_storage"] == "database":
        pytest.skip("this n8n keeps execution data in its database")
    instance = _database_instance(live, _team())
    assert sync.sync_instance(instance).ok
    truth = _n8n_truth(live["n8n"])
    mirrored = Execution.objects.filter(workflow__source=instance.source)
    assert {e.external_id: e.state for e in mirrored} == {i: e["status"] for i, e in truth.items()}
    assert not ExecutionLog.objects.filter(workflow__source=instance.source).exists()
    instance.refresh_from_db()
    assert instance.data_unavailable_count == len(truth)
    assert "outside" in instance.data_unavailable_note or "API" in instance.data_unavailable_note, \
        instance.data_unavailable_note


def test_a_failing_execution_is_an_alert_within_seconds_through_the_hook(live, tmp_path):
    team = _team()
    rule = AlertRule(team=team, name="Any failure", kind="execution_failed", params={}, severity="critical")
    validate_rule(rule)
    rule.save()
    hook = ServiceToken.objects.create(team=team, name="n8n hook", prefix=live["hook_token"][:10],
                                       token_hash=hash_token(live["hook_token"]))
    # The poll is not running (no beat): whatever is mirrored here came through the hook.
    instance = _api_instance(live, team, pk=HOOK_INSTANCE_ID, hook_token=hook, cursor="999999")
    with live["flowtower"], celery_worker({**os.environ, **live["env"], "FLOWTOWER_WORKER_METRICS_PORT": "0"}, tmp_path / "worker.log"):
        time.sleep(2)  # the worker connects to Redis
        triggered = time.monotonic()
        live["n8n"].trigger("invoice-fetch")
        deadline = triggered + 15
        alert = None
        while time.monotonic() < deadline and alert is None:
            alert = Alert.objects.filter(team=team, source="rule", workflow__name="Invoice fetch").first()
            time.sleep(0.1)
        took = time.monotonic() - triggered
    assert alert is not None, f"no alert 15 s after the failure; Flowtower's log:\n{live['flowtower'].log()[-3000:]}"
    print(f"\nn8n {live['version']}: failed execution -> alert in {took:.1f} s")
    assert took < 10
    assert alert.severity == "critical" and alert.execution.state == "error"
    mirrored = Execution.objects.filter(workflow__source=instance.source)
    assert [e.external_id for e in mirrored] == [alert.execution.external_id]  # the hooked one, nothing else
    instance.refresh_from_db()
    assert instance.cursor == "999999" and instance.last_run_at is None  # the poll's place is its own


def test_a_workflow_n8n_deactivates_is_an_alert(live):
    team = _team()
    rule = AlertRule(team=team, name="Deactivated", kind="deactivated", params={}, severity="warning")
    validate_rule(rule)
    rule.save()
    instance = _api_instance(live, team)
    assert sync.sync_instance(instance).ok
    n8n, workflow_id = live["n8n"], live["workflows"]["Warehouse ping"]
    n8n.api("POST", f"/workflows/{workflow_id}/deactivate")
    try:
        assert sync.sync_instance(instance).ok
        workflow = Workflow.objects.get(source=instance.source, external_id=workflow_id)
        assert workflow.active is False
        assert Alert.objects.filter(team=team, source="rule", workflow=workflow, resolved=False).count() == 1
    finally:
        n8n.api("POST", f"/workflows/{workflow_id}/activate")
