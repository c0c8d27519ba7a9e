"""REST clients set a workflow's schedule (expected_interval_minutes, how often it should run) so
the alerting engine's no-executions rule can hold it to that: set on create or by a team admin's
PATCH, cleared with null, shown in GET, refused with a 400 naming the field when out of range."""

import pytest

from monitoring.models import Workflow


@pytest.fixture
def admin_api(team, client_for, make_user):
    return client_for(make_user("ada", team, "admin"))


@pytest.fixture
def workflow(team):
    return Workflow.objects.create(team=team, external_id="wf-1", name="Order sync")


def test_an_admin_sets_shows_and_clears_the_schedule(admin_api, workflow):
    url = f"/api/v1/workflows/{workflow.pk}/"
    assert admin_api.get(url).json()["expected_interval_minutes"] is None
    r = admin_api.patch(url, {"expected_interval_minutes": 60}, format="json")
    assert r.status_code == 200 and r.json()["expected_interval_minutes"] == 60
    workflow.refresh_from_db()
    assert workflow.expected_interval_minutes == 60
    assert admin_api.get(url).json()["expected_interval_minutes"] == 60
    listed = admin_api.get("/api/v1/workflows/").json()["results"]
    assert [w["expected_interval_minutes"] for w in listed] == [60]
    # Changing something else keeps the schedule; null clears it.
    assert admin_api.patch(url, {"name": "Order sync v2"}, format="json").json()["expected_interval_minutes"] == 60
    r = admin_api.patch(url, {"expected_interval_minutes": None}, format="json")
    assert r.status_code == 200 and r.json()["expected_interval_minutes"] is None


def test_a_workflow_created_with_a_schedule_keeps_it(api):
    r = api.post("/api/v1/workflows/", {"workflow_id": "nightly", "expected_interval_minutes": 1440}, format="json")
    assert r.status_code == 201 and r.json()["expected_interval_minutes"] == 1440
    assert Workflow.objects.get(external_id="nightly").expected_interval_minutes == 1440


@pytest.mark.parametrize("value", [0, -5, 525601, 1.5, "hourly", True])
def test_a_bad_schedule_is_a_400_naming_the_field(admin_api, workflow, value):
    r = admin_api.patch(f"/api/v1/workflows/{workflow.pk}/", {"expected_interval_minutes": value}, format="json")
    assert r.status_code == 400 and r["Content-Type"].startswith("application/json")
    assert "expected_interval_minutes" in str(r.json())
    workflow.refresh_from_db()
    assert workflow.expected_interval_minutes is None


def test_a_year_is_the_longest_schedule(admin_api, workflow):
    r = admin_api.patch(f"/api/v1/workflows/{workflow.pk}/", {"expected_interval_minutes": 525600}, format="json")
    assert r.status_code == 200 and r.json()["expected_interval_minutes"] == 525600


def test_only_a_team_admin_changes_the_schedule(api, workflow):
    r = api.patch(f"/api/v1/workflows/{workflow.pk}/", {"expected_interval_minutes": 60}, format="json")
    assert r.status_code == 403
    workflow.refresh_from_db()
    assert workflow.expected_interval_minutes is None


def test_the_openapi_schema_documents_the_field(admin_api):
    schema = admin_api.get("/api/v1/schema/?format=json").json()["components"]["schemas"]
    assert "expected_interval_minutes" in schema["WorkflowOut"]["properties"]
    written = schema["PatchedWorkflowUpdateInRequest"]["properties"]["expected_interval_minutes"]
    assert (written["minimum"], written["maximum"], written.get("nullable")) == (1, 525600, True)
