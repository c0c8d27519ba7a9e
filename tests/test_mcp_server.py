"""The MCP server as an MCP client sees it: `python manage.py mcp_server` spawned over stdio by the
MCP SDK's own client, on the test database, with a team's service token. One server process serves
the module; its data is committed before it starts (the process cannot see a test's transaction)
and removed after."""

import json
import re
import os
import subprocess
import sys
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import anyio
import pytest
from anyio.from_thread import start_blocking_portal
from django.db import connection
from django.utils import timezone
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.server.mcpserver.exceptions import ToolError
from rest_framework.test import APIClient

from monitoring.mcp.server import MAX_LIMIT, TOOLS, TeamTools
from monitoring.node_stats import node_stats
from monitoring.models import (
    Alert,
    Execution,
    ExecutionLog,
    PerformanceMetric,
    ServiceToken,
    Team,
    Workflow,
    WorkflowError,
)

from daphne_server import database_url

# Every test needs the test database (pytest-django sets it up only for marked tests); the server
# process reads what the module's fixture committed there, outside each test's transaction.
pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent
NOW = timezone.now()


def ago(minutes):
    return NOW - timedelta(minutes=minutes)


def execution(workflow, external_id, state, started, duration_ms=None, **fields):
    stopped = started + timedelta(milliseconds=duration_ms) if duration_ms is not None else None
    return Execution.objects.create(workflow=workflow, external_id=external_id, state=state, started_at=started,
                                    stopped_at=stopped, duration_ms=duration_ms, mode="trigger", **fields)


def node_logs(run, nodes):
    """One log per node run, in order: (node name, duration ms, level)."""
    at = run.started_at
    for step, (name, duration, level) in enumerate(nodes, start=1):
        ExecutionLog.objects.create(workflow=run.workflow, execution=run, log_level=level, node_name=name,
                                    message=f"{name} finished", step_number=step, duration=duration, timestamp=at)
        at += timedelta(milliseconds=duration)


def build_world():
    """Team acme (the server's) and team globex (another team's data, never to be seen)."""
    acme = Team.objects.create(slug="acme", name="Acme")
    orders = Workflow.objects.create(team=acme, external_id="wf-orders", name="Orders")
    sync = Workflow.objects.create(team=acme, external_id="wf-sync", name="Sync")
    Workflow.objects.create(team=acme, external_id="wf-idle", name="Never ran")
    ok = execution(orders, "101", "success", ago(30), 1500)
    node_logs(ok, [("Webhook", 5, "info"), ("HTTP Request", 1200, "info"), ("Set", 20, "info")])
    PerformanceMetric.objects.create(workflow=orders, execution=ok, total_duration=1500, node_count=3,
                                     successful_nodes=3, throughput="2.50", bottleneck_nodes=["HTTP Request"])
    failed = execution(orders, "102", "error", ago(20), 900)
    node_logs(failed, [("Webhook", 4, "info"), ("HTTP Request", 890, "error")])
    WorkflowError.objects.create(workflow=orders, execution=failed, error_type="network", error_code="ECONNREFUSED",
                                 error_message="connect ECONNREFUSED 10.0.0.1:443", node_name="HTTP Request",
                                 severity="high", timestamp=ago(20))
    old_error = execution(sync, "100", "error", ago(50), 100)
    WorkflowError.objects.create(workflow=sync, execution=old_error, error_type="timeout",
                                 error_message="timed out", severity="medium", timestamp=ago(50), resolved=True,
                                 resolved_by="token:ci")
    execution(orders, "100", "success", ago(90), 1000)  # the same id as sync's: ambiguous without workflow_id
    last_week = execution(orders, "099", "success", ago(10 * 24 * 60), 3000)
    node_logs(last_week, [("HTTP Request", 3000, "info")])
    execution(sync, "103", "running", ago(1), current_step="Transform", step_number=2, total_steps=4)
    Alert.objects.create(team=acme, workflow=orders, alert_type="error", severity="warning", title="Orders failing",
                         timestamp=ago(19))
    Alert.objects.create(team=acme, workflow=sync, alert_type="timeout", severity="info", title="Sync slow",
                         timestamp=ago(40), acknowledged=True, acknowledged_by="ops")
    Alert.objects.create(team=acme, alert_type="resource", severity="critical", title="Disk almost full",
                         timestamp=ago(10))

    globex = Team.objects.create(slug="globex", name="Globex")
    secret = Workflow.objects.create(team=globex, external_id="wf-secret", name="Secret")
    theirs = execution(secret, "900", "error", ago(5), 10)
    WorkflowError.objects.create(workflow=secret, execution=theirs, error_message="globex only", timestamp=ago(5))
    Alert.objects.create(team=globex, workflow=secret, alert_type="error", severity="critical", title="Globex down")

    revoked, revoked_raw = ServiceToken.issue(acme, "revoked")
    revoked.revoked_at = NOW
    revoked.save()
    return {"token": ServiceToken.issue(acme, "mcp")[1], "revoked": revoked_raw}


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        raw = build_world()
        raw["database_url"] = database_url(connection.settings_dict)
    yield raw
    with django_db_blocker.unblock():
        # Remove what build_world committed (everything hangs off its two teams) — not a flush,
        # which would also take the rows the migrations put there (beat schedules) from the
        # tests that run after this module.
        Team.objects.filter(slug__in=["acme", "globex"]).delete()


def server_env(world, token):
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", "DATABASE_URL": world["database_url"],
            "FLOWTOWER_TOKEN": token}


@asynccontextmanager
async def mcp_session(env):
    params = StdioServerParameters(command=sys.executable, args=["manage.py", "mcp_server"], env=env, cwd=str(ROOT))
    with open(os.devnull, "w") as quiet:
        async with stdio_client(params, errlog=quiet) as (read, write):
            async with ClientSession(read, write) as session:
                with anyio.fail_after(30):
                    await session.initialize()
                yield session


class Client:
    """Calls into one MCP session from these (synchronous) tests."""

    def __init__(self, portal, session):
        self.portal, self.session = portal, session

    def _run(self, fn, *args):
        async def bounded():
            with anyio.fail_after(20):
                return await fn(*args)
        return self.portal.call(bounded)

    def tools(self):
        return {tool.name: tool for tool in self._run(self.session.list_tools).tools}

    def call(self, name, **arguments):
        """The structured result; a tool error fails the test."""
        result = self._run(self.session.call_tool, name, arguments)
        assert not result.is_error, result.content[0].text
        # The same JSON as text, for clients that read only the content.
        assert json.loads(result.content[0].text) == result.structured_content
        return result.structured_content

    def error(self, name, **arguments):
        result = self._run(self.session.call_tool, name, arguments)
        assert result.is_error
        return result.content[0].text


@pytest.fixture(scope="module")
def mcp(world):
    with start_blocking_portal() as portal:
        with portal.wrap_async_context_manager(mcp_session(server_env(world, world["token"]))) as session:
            yield Client(portal, session)


def test_lists_every_tool_read_only_with_argument_and_result_schemas(mcp):
    tools = mcp.tools()
    assert set(tools) == set(TOOLS)
    for tool in tools.values():
        assert tool.input_schema["type"] == "object"
        assert tool.output_schema["type"] == "object"
        assert tool.annotations.read_only_hint is True
        assert tool.description
    limit = tools["get_recent_executions"].input_schema["properties"]["limit"]
    assert (limit["minimum"], limit["maximum"]) == (1, MAX_LIMIT)
    assert tools["get_execution"].input_schema["required"] == ["execution_id"]
    assert tools["get_live_status"].input_schema["required"] == ["workflow_id"]
    assert "workflow_id" not in tools["get_dashboard_summary"].input_schema.get("required", [])


def test_recent_executions_newest_first_filtered_and_only_the_team_s(mcp):
    result = mcp.call("get_recent_executions")
    runs = [(e["workflow_id"], e["execution_id"]) for e in result["executions"]]
    assert runs == [("wf-sync", "103"), ("wf-orders", "102"), ("wf-orders", "101"), ("wf-sync", "100"),
                    ("wf-orders", "100"), ("wf-orders", "099")]
    assert result["count"] == 6
    first = result["executions"][1]
    assert (first["state"], first["duration_ms"], first["mode"], first["team"]) == ("error", 900, "trigger", "acme")
    assert [e["execution_id"] for e in mcp.call("get_recent_executions", status="error")["executions"]] == ["102", "100"]
    assert [e["execution_id"] for e in mcp.call("get_recent_executions", workflow_id="wf-orders", limit=2)
            ["executions"]] == ["102", "101"]


def test_recent_executions_are_the_rest_api_s(mcp, world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {world['token']}")
    rest = client.get("/api/v1/executions/").json()["results"]
    assert [e["id"] for e in mcp.call("get_recent_executions")["executions"]] == [e["id"] for e in rest]


def test_execution_errors_newest_first_and_unresolved_only(mcp):
    errors = mcp.call("get_execution_errors")["errors"]
    assert [(e["execution_id"], e["error_type"], e["resolved"]) for e in errors] == [
        ("102", "network", False), ("100", "timeout", True)]
    assert errors[0]["node_name"] == "HTTP Request" and errors[0]["error_code"] == "ECONNREFUSED"
    assert [e["execution_id"] for e in mcp.call("get_execution_errors", unresolved_only=True)["errors"]] == ["102"]
    assert mcp.call("get_execution_errors", workflow_id="wf-idle") == {"count": 0, "errors": []}


def test_execution_with_its_node_logs_in_order_errors_and_performance(mcp):
    detail = mcp.call("get_execution", execution_id="101")
    assert detail["execution"]["state"] == "success"
    assert [(log["step_number"], log["node_name"], log["duration"]) for log in detail["logs"]] == [
        (1, "Webhook", 5), (2, "HTTP Request", 1200), (3, "Set", 20)]
    assert (detail["logs_total"], detail["logs_truncated"], detail["errors"]) == (3, False, [])
    assert detail["performance"]["throughput"] == 2.5
    assert detail["performance"]["bottleneck_nodes"] == ["HTTP Request"]

    failed = mcp.call("get_execution", execution_id="102", workflow_id="wf-orders")
    assert [e["error_message"] for e in failed["errors"]] == ["connect ECONNREFUSED 10.0.0.1:443"]
    assert failed["performance"] is None


def test_an_execution_id_two_workflows_share_needs_the_workflow_id(mcp):
    assert "workflow_id" in mcp.error("get_execution", execution_id="100")
    assert mcp.call("get_execution", execution_id="100", workflow_id="wf-sync")["execution"]["state"] == "error"


def test_live_status_of_a_running_workflow_and_of_one_that_never_ran(mcp):
    live = mcp.call("get_live_status", workflow_id="wf-sync")
    assert live["ever_ran"] is True
    status = live["live_status"]
    assert (status["execution_id"], status["current_state"], status["current_step"]) == ("103", "running", "Transform")
    assert status["progress_percentage"] == 50
    assert mcp.call("get_live_status", workflow_id="wf-idle") == {
        "workflow_id": "wf-idle", "ever_ran": False, "live_status": None}


def test_dashboard_of_the_team_and_of_one_workflow(mcp):
    team = mcp.call("get_dashboard_summary")
    summary = team["dashboard"]
    assert team["team"] == "acme"
    # In the last 24 h: five executions of acme, none of globex's.
    assert (summary["total_executions"], summary["successful_executions"], summary["failed_executions"]) == (5, 2, 2)
    # Open alerts include the one of no workflow (critical): the team's health is critical.
    assert summary["unresolved_alerts"] == 3
    assert summary["system_health"] == "critical"
    # wf-orders in the last hour: two of its three runs (the third is 90 minutes old), its one open alert.
    one = mcp.call("get_dashboard_summary", workflow_id="wf-orders", period="1h")["dashboard"]
    assert (one["total_executions"], one["failed_executions"], one["unresolved_alerts"]) == (2, 1, 1)


def test_node_stats_most_failing_then_slowest_against_the_week_before(mcp):
    stats = mcp.call("get_node_stats", workflow_id="wf-orders")
    assert (stats["workflow_id"], stats["days"]) == ("wf-orders", 7)
    nodes = stats["nodes"]
    assert [n["node_name"] for n in nodes] == ["HTTP Request", "Set", "Webhook"]
    http = nodes[0]
    assert (http["runs"], http["failure_share"]) == (2, 0.5)
    assert 890 < http["p50_ms"] < http["p95_ms"] <= 1200
    assert http["previous"] == {"runs": 1, "p95_ms": 3000, "failure_share": 0.0}
    assert http["change"]["runs"] == 1 and http["change"]["p95_ms"] < 0
    assert nodes[1]["previous"] is None
    # The same answer as the workflow page's and the REST API's (monitoring.node_stats).
    workflow = Workflow.objects.get(team__slug="acme", external_id="wf-orders")
    assert stats == json.loads(json.dumps(node_stats(workflow)))
    assert all(n["previous"] is None for n in mcp.call("get_node_stats", workflow_id="wf-orders", days=1)["nodes"])


def test_alerts_of_the_team_including_those_of_no_workflow(mcp):
    alerts = mcp.call("list_alerts")["alerts"]
    assert [a["title"] for a in alerts] == ["Disk almost full", "Orders failing", "Sync slow"]
    assert alerts[0]["workflow_id"] is None and alerts[0]["status"] == "firing"
    unacknowledged = mcp.call("list_alerts", unacknowledged_only=True)["alerts"]
    assert [a["title"] for a in unacknowledged] == ["Disk almost full", "Orders failing"]
    assert mcp.call("list_alerts", status="resolved") == {"count": 0, "alerts": []}


def test_another_team_s_workflow_is_not_found_exactly_as_one_that_does_not_exist(mcp):
    for tool in ("get_live_status", "get_dashboard_summary", "get_node_stats"):
        theirs = mcp.error(tool, workflow_id="wf-secret")
        assert theirs == mcp.error(tool, workflow_id="wf-nowhere").replace("wf-nowhere", "wf-secret")
        assert "workflow_id" in theirs and "not found" in theirs
    assert "not found" in mcp.error("get_recent_executions", workflow_id="wf-secret")
    assert "not found" in mcp.error("get_execution", execution_id="900")
    assert all(e["workflow_id"] != "wf-secret" for e in mcp.call("get_execution_errors", limit=MAX_LIMIT)["errors"])


@pytest.mark.parametrize("tool, arguments, named", [
    ("get_recent_executions", {"limit": MAX_LIMIT + 1}, "limit"),
    ("get_recent_executions", {"limit": 0}, "limit"),
    ("get_recent_executions", {"status": "exploded"}, "status"),
    ("get_execution_errors", {"unresolved_only": "perhaps"}, "unresolved_only"),
    ("get_execution", {}, "execution_id"),
    ("get_dashboard_summary", {"period": "1y"}, "period"),
    ("get_live_status", {"workflow_id": ""}, "workflow_id"),
    ("get_node_stats", {"workflow_id": "wf-orders", "days": 0}, "days"),
    ("get_node_stats", {"workflow_id": "wf-orders", "days": 31}, "days"),
])
def test_a_bad_argument_is_a_tool_error_naming_it(mcp, tool, arguments, named):
    assert named in mcp.error(tool, **arguments)


@pytest.mark.parametrize("token, said", [("", "FLOWTOWER_TOKEN is not set"), ("ft_made-up", "unknown or revoked"),
                                         ("revoked", "unknown or revoked")])
def test_without_a_valid_token_the_server_refuses_to_start(world, token, said):
    env = server_env(world, world["revoked"] if token == "revoked" else token)
    done = subprocess.run([sys.executable, "manage.py", "mcp_server"], cwd=ROOT, env=env, input=b"",
                          capture_output=True, timeout=60)
    assert done.returncode != 0
    assert said in done.stderr.decode()
    assert done.stdout == b""  # nothing a client could mistake for the protocol


def test_stdout_carries_only_the_protocol(world):
    """Django's and the server's own log lines go to stderr: every line on stdout is JSON-RPC."""
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}}
    done = subprocess.run([sys.executable, "manage.py", "mcp_server"], cwd=ROOT, env=server_env(world, world["token"]),
                          input=(json.dumps(hello) + "\n").encode(), capture_output=True, timeout=60)
    lines = done.stdout.decode().splitlines()
    assert lines and all(json.loads(line)["jsonrpc"] == "2.0" for line in lines)
    assert json.loads(lines[0])["result"]["serverInfo"]["name"] == "flowtower"


@pytest.mark.parametrize("document", ["README.md", "docs/mcp.md"])
def test_the_documented_client_configuration_starts_this_server(document):
    """The mcpServers JSON the docs give is valid and runs this command with the token variable."""
    blocks = re.findall(r"```json\n(.*?)```", (ROOT / document).read_text(), re.S)
    server = next(json.loads(b)["mcpServers"]["flowtower"] for b in blocks if '"mcpServers"' in b)
    assert server["args"][-2:] == ["/srv/flowtower/manage.py", "mcp_server"]
    assert set(server["env"]) >= {"FLOWTOWER_TOKEN", "DJANGO_SETTINGS_MODULE", "DATABASE_URL"}


def test_a_token_revoked_while_the_server_runs_reads_nothing_more(world):
    token = ServiceToken.objects.get(name="mcp")
    tools = TeamTools(token)
    assert tools.get_recent_executions(limit=1).count == 1
    token.revoked_at = timezone.now()
    token.save()
    with pytest.raises(ToolError, match="revoked"):
        tools.get_recent_executions(limit=1)
