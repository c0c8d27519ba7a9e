"""Time saved through the APIs: /api/v1/workflows/ reads and writes minutes_saved_per_run (null
clears it, bad values are a JSON 400 naming it, members may set it alone, viewers may not), the
dashboard summary and the MCP server's summary carry a `time_saved` block, scoped to the team."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from monitoring.mcp.server import TeamTools
from monitoring.models import Execution, ServiceToken, Workflow

URL = "/api/v1/workflows/"


@pytest.fixture
def invoices(team):
    wf = Workflow.objects.create(team=team, external_id="invoices", name="Invoices",
                                 minutes_saved_per_run=Decimal("4.5"))
    Workflow.objects.create(team=team, external_id="cleanup", name="Cleanup")
    now = timezone.now()
    Execution.objects.bulk_create(
        [Execution(workflow=wf, external_id=f"ok{i}", state="success", started_at=now - timedelta(minutes=10 + i))
         for i in range(20)] + [Execution(workflow=wf, external_id="bad", state="error", started_at=now)])
    return wf


def test_workflow_shows_its_estimate_as_a_number(api, invoices):
    body = api.get(f"{URL}{invoices.pk}/").json()
    assert body["minutes_saved_per_run"] == 4.5
    rows = {w["workflow_id"]: w["minutes_saved_per_run"] for w in api.get(URL).json()["results"]}
    assert rows == {"invoices": 4.5, "cleanup": None}


def test_create_with_an_estimate(client_for, make_user, team):
    admin = client_for(make_user("boss", team, "admin"))
    r = admin.post(URL, {"workflow_id": "wf-new", "minutes_saved_per_run": 2.25}, format="json")
    assert r.status_code == 201, r.json()
    assert r.json()["minutes_saved_per_run"] == 2.25
    assert Workflow.objects.get(external_id="wf-new").minutes_saved_per_run == Decimal("2.25")


@pytest.mark.parametrize("role", ["member", "admin"])
def test_patch_sets_and_null_clears(client_for, make_user, team, invoices, role):
    client = client_for(make_user(role, team, role))
    r = client.patch(f"{URL}{invoices.pk}/", {"minutes_saved_per_run": 10080}, format="json")
    assert r.status_code == 200 and r.json()["minutes_saved_per_run"] == 10080
    r = client.patch(f"{URL}{invoices.pk}/", {"minutes_saved_per_run": None}, format="json")
    assert r.status_code == 200 and r.json()["minutes_saved_per_run"] is None
    assert Workflow.objects.get(pk=invoices.pk).minutes_saved_per_run is None


def test_other_fields_keep_the_estimate_and_still_need_admin(client_for, make_user, team, invoices):
    member = client_for(make_user("m", team, "member"))
    r = member.patch(f"{URL}{invoices.pk}/", {"minutes_saved_per_run": 3, "name": "Renamed"}, format="json")
    assert r.status_code == 403
    admin = client_for(make_user("a", team, "admin"))
    r = admin.patch(f"{URL}{invoices.pk}/", {"name": "Renamed"}, format="json")
    assert r.status_code == 200 and r.json()["minutes_saved_per_run"] == 4.5
    assert Workflow.objects.get(pk=invoices.pk).minutes_saved_per_run == Decimal("4.5")


def test_viewer_and_another_team_cannot_set_it(client_for, make_user, team, other_team, invoices):
    viewer = client_for(make_user("v", team, "viewer"))
    r = viewer.patch(f"{URL}{invoices.pk}/", {"minutes_saved_per_run": 3}, format="json")
    assert r.status_code == 403 and r["Content-Type"].startswith("application/")
    stranger = client_for(make_user("s", other_team, "admin"))
    assert stranger.patch(f"{URL}{invoices.pk}/", {"minutes_saved_per_run": 3}, format="json").status_code == 404
    assert Workflow.objects.get(pk=invoices.pk).minutes_saved_per_run == Decimal("4.5")


@pytest.mark.parametrize("value", [-0.01, 10080.01, 1.234, "ten", True, [], {"m": 1}])
def test_bad_estimate_is_a_json_400_naming_the_field(client_for, make_user, team, invoices, value):
    admin = client_for(make_user("a", team, "admin"))
    r = admin.patch(f"{URL}{invoices.pk}/", {"minutes_saved_per_run": value}, format="json")
    assert r.status_code == 400 and r["Content-Type"].startswith("application/")
    assert "minutes_saved_per_run" in r.content.decode()
    assert Workflow.objects.get(pk=invoices.pk).minutes_saved_per_run == Decimal("4.5")


def test_dashboard_summary_has_a_time_saved_block(api, team, other_team, invoices):
    theirs = Workflow.objects.create(team=other_team, external_id="payroll", minutes_saved_per_run=Decimal("60"))
    Execution.objects.create(workflow=theirs, external_id="p1", state="success")
    data = api.get("/api/workflows/monitoring?type=dashboard").json()["data"]
    assert data["total_executions"] == 21 and data["successful_executions"] == 20  # existing keys unchanged
    assert data["time_saved"] == {
        "minutes": 90.0, "hours": 1.5, "workflows": 2, "estimated_workflows": 1, "not_estimated_workflows": 1,
        "top_workflows": [{"workflow_id": "invoices", "team": "acme", "name": "Invoices",
                           "minutes_saved_per_run": 4.5, "successful_runs": 20, "minutes": 90.0}]}
    one = api.get("/api/workflows/monitoring?type=dashboard&workflow_id=cleanup").json()["data"]["time_saved"]
    assert (one["minutes"], one["workflows"], one["estimated_workflows"]) == (0.0, 1, 0)
    short = api.get("/api/workflows/monitoring?type=dashboard&period=1h&team=acme").json()["data"]["time_saved"]
    assert short["minutes"] == 90.0


def test_mcp_dashboard_summary_has_time_saved(team, invoices):
    token = ServiceToken.issue(team, "mcp")[0]
    result = TeamTools(token).get_dashboard_summary()
    assert result.dashboard.time_saved.minutes == 90.0
    assert result.dashboard.time_saved.top_workflows[0].workflow_id == "invoices"
