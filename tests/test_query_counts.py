"""No N+1 queries: every main page, admin change list and API list asks the database as many
times with 20 workflows (and their executions, logs, errors, performance records, alerts, rules,
channels, routes, silences, deliveries and n8n instances) as with 2. A page that runs one query
per row shown grows with the data; these tests catch it whatever its absolute count.

Each URL is measured with 2 workflows, then again after 18 more are added; each measured request
follows an unmeasured one, so what a process keeps for a while (content types, the cached service
token, its last-used time) is in the same state both times."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from alerts.models import AlertRule, Channel, Delivery, Route, Silence
from monitoring.models import (
    Alert,
    Execution,
    ExecutionLog,
    PerformanceMetric,
    Role,
    ServiceToken,
    Workflow,
    WorkflowError,
)
from n8n_mirror.models import N8nInstance

SMALL, LARGE = 2, 20


def add_workflows(team, start, stop):
    """Workflows start..stop-1 of the team, each with two executions (a success, and a failure that
    retries it), logs on three nodes, an error, performance records, two alerts and one of no
    workflow, a rule with a channel, a route, a current and an expired silence, deliveries and an
    n8n instance."""
    now = timezone.now()
    workflows = Workflow.objects.bulk_create(
        [Workflow(team=team, external_id=f"wf-{i}", name=f"Workflow {i}", tags=["billing"]) for i in range(start, stop)]
    )
    executions = Execution.objects.bulk_create([
        Execution(workflow=w, external_id=f"{w.external_id}-{n}", state=state,
                  started_at=now - timedelta(minutes=n + 1), stopped_at=now - timedelta(minutes=n),
                  duration_ms=1000 + n, mode="trigger")
        for w in workflows for n, state in enumerate(["success", "error"])
    ])
    for retry, original in zip(executions[1::2], executions[0::2]):
        retry.retry_of = original  # the failure retries the success: pages show retry_of's id
    Execution.objects.bulk_update(executions[1::2], ["retry_of"])
    ExecutionLog.objects.bulk_create([
        ExecutionLog(workflow=e.workflow, execution=e, log_level=level, message=f"step {s}", node_name=f"Node {s}",
                     step_number=s, duration=10 * s, timestamp=e.started_at + timedelta(seconds=s))
        for e in executions for s, level in enumerate(["info", "warn", "error"], start=1)
    ])
    failed = [e for e in executions if e.state == "error"]
    WorkflowError.objects.bulk_create([
        WorkflowError(workflow=e.workflow, execution=e, error_type="network", severity="high",
                      error_message="connection refused", node_name="Node 3", timestamp=e.started_at)
        for e in failed
    ])
    PerformanceMetric.objects.bulk_create([
        PerformanceMetric(workflow=e.workflow, execution=e, total_duration=e.duration_ms, node_count=3,
                          successful_nodes=3, timestamp=e.started_at, bottleneck_nodes=["Node 2"])
        for e in executions
    ])
    alerts = Alert.objects.bulk_create([
        Alert(team=team, workflow=e.workflow, execution=e, alert_type="error", severity=severity,
              title=f"{e.workflow.name} failed", timestamp=e.started_at, acknowledged=severity == "warning")
        for e in failed for severity in ("critical", "warning")
    ] + [
        # An infrastructure alert: the team's, of no workflow.
        Alert(team=team, alert_type="resource", severity="warning", title=f"disk {w.external_id}",
              source="alertmanager", labels={"instance": f"db-{w.external_id}"}, timestamp=now)
        for w in workflows
    ])
    for w in workflows:
        channel = Channel.objects.create(team=team, name=f"log {w.external_id}", kind="log")
        rule = AlertRule.objects.create(team=team, name=f"fails {w.external_id}", kind="execution_failed", workflow=w)
        rule.channels.add(channel)
        route = Route.objects.create(team=team, name=f"route {w.external_id}", channel=channel,
                                     escalation_channel=channel, tags=["billing"])
        route.rules.add(rule)
        Silence.objects.create(team=team, matchers={"workflow": w.external_id}, ends_at=now + timedelta(days=1))
        Silence.objects.create(team=team, matchers={"workflow": w.external_id}, starts_at=now - timedelta(days=2),
                               ends_at=now - timedelta(days=1))
        N8nInstance.objects.create(team=team, name=f"n8n {w.external_id}", api_url="https://n8n.example.com")
    channels = list(Channel.objects.filter(team=team))
    Delivery.objects.bulk_create([
        Delivery(alert=a, channel=c, event="firing", status="sent") for a in alerts for c in channels[-2:]
    ])
    return workflows


@pytest.fixture
def world(team, make_user, client_for):
    """A member of the team signed in (pages and API) and the team's service token, with 2 workflows."""
    add_workflows(team, 0, SMALL)
    member = make_user("mia", team, Role.MEMBER)
    browser, member_api = Client(), APIClient()
    for client in (browser, member_api):
        client.force_login(member)  # a real session, as a browser or a script with a cookie has
    _, raw = ServiceToken.issue(team, "ci")
    return {"team": team, "browser": browser, "member_api": member_api, "token_api": client_for(raw)}


def count_queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.content[:500])
    return len(ctx.captured_queries), [q["sql"] for q in ctx.captured_queries]


def assert_constant(client, team, url):
    """The same number of queries with 2 and with 20 workflows; the URL may name objects of the first
    workflow (it takes the world's first workflow, execution, alert)."""
    target = url(team) if callable(url) else url
    count_queries(client, target)  # warm: each measure follows a request, so short-lived caches agree
    small, _ = count_queries(client, target)
    add_workflows(team, SMALL, LARGE)
    count_queries(client, target)
    large, sql = count_queries(client, target)
    assert small == large, f"{target}: {small} queries with {SMALL} workflows, {large} with {LARGE}:\n" + "\n".join(sql)


def _workflow(team):
    return Workflow.objects.filter(team=team, external_id="wf-0").get()


def _execution(team):
    return Execution.objects.filter(workflow=_workflow(team), state="error").get()


PAGES = [
    "/", "/?period=7d", "/?partial=cards", "/workflows/",
    lambda t: f"/workflows/{_workflow(t).pk}/", lambda t: f"/workflows/{_workflow(t).pk}/?partial=live",
    lambda t: f"/executions/{_execution(t).pk}/",
    "/logs/", "/logs/?levels=error", "/errors/", "/errors/?resolved=", "/alerts/", "/alerts/?resolved=",
    lambda t: f"/alerts/{Alert.objects.filter(workflow=_workflow(t)).order_by('severity').first().pk}/",
    "/nav-counts/", "/n8n/", "/rules/", "/channels/", "/routes/", "/silences/",
]

API = [
    "/api/workflows/monitoring?type=dashboard", "/api/workflows/monitoring?type=dashboard&period=7d",
    "/api/workflows/monitoring?type=dashboard&workflow_id=wf-0", "/api/workflows/monitoring?type=dashboard&team=acme",
    "/api/workflows/monitoring?type=logs", "/api/workflows/monitoring?type=errors",
    "/api/workflows/monitoring?type=performance", "/api/workflows/monitoring?type=alerts",
    "/api/workflows/monitoring?type=live-status&workflow_id=wf-0",
    "/api/v1/workflows/", "/api/v1/executions/", "/api/v1/logs/", "/api/v1/errors/", "/api/v1/performance/",
    "/api/v1/alerts/", lambda t: f"/api/v1/workflows/{_workflow(t).pk}/nodes/",
    lambda t: f"/api/v1/workflows/{_workflow(t).pk}/", lambda t: f"/api/v1/executions/{_execution(t).pk}/",
    "/api/v1/alert-rules/", "/api/v1/channels/", "/api/v1/routes/", "/api/v1/silences/", "/api/v1/deliveries/",
]


# The admin's change lists, for a super admin and a team admin (staff).
ADMIN = [f"/admin/{model}/" for model in (
    "monitoring/team", "monitoring/membership", "monitoring/servicetoken", "monitoring/workflow",
    "monitoring/execution", "monitoring/executionlog", "monitoring/workflowerror", "monitoring/performancemetric",
    "monitoring/alert", "alerts/alertrule", "alerts/channel", "alerts/route", "alerts/silence", "alerts/delivery",
    "n8n_mirror/n8ninstance",
)]


@pytest.mark.parametrize("url", PAGES, ids=lambda u: u if isinstance(u, str) else None)
def test_page_queries_do_not_grow_with_workflows(world, url):
    assert_constant(world["browser"], world["team"], url)


@pytest.mark.parametrize(("url", "superuser"), [(url, True) for url in ADMIN] + [
    (url, False) for url in ADMIN if not url.startswith("/admin/n8n_mirror/")  # super admins' only
])
def test_admin_list_queries_do_not_grow_with_workflows(world, make_user, url, superuser):
    admin = Client()
    admin.force_login(make_user("ada", world["team"], Role.ADMIN, superuser=superuser))
    assert_constant(admin, world["team"], url)


@pytest.mark.parametrize("url", API, ids=lambda u: u if isinstance(u, str) else None)
def test_api_queries_for_a_member_do_not_grow_with_workflows(world, url):
    assert_constant(world["member_api"], world["team"], url)


@pytest.mark.parametrize("url", API, ids=lambda u: u if isinstance(u, str) else None)
def test_api_queries_for_a_token_do_not_grow_with_workflows(world, url):
    assert_constant(world["token_api"], world["team"], url)
