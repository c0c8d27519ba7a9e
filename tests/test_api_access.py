"""The role × team × endpoint matrix: who may read, respond, post and prune, and that another
team's objects answer 404 everywhere."""

import pytest

from monitoring.ingest import ingest
from monitoring.models import Alert, ExecutionLog, ServiceToken, Workflow, WorkflowError
from monitoring.schemas import validate_records

URL = "/api/workflows/monitoring"
LOG = {"workflow_id": "wf-a", "execution_id": "e1", "log_level": "info", "message": "m"}


@pytest.fixture
def world(team, other_team, make_user, client_for):
    """Team A (acme) with data; principals of every kind."""
    raw = {
        "log": [LOG],
        "error": [{"workflow_id": "wf-a", "execution_id": "e1", "error_message": "boom"}],
        "performance": [{"workflow_id": "wf-a", "execution_id": "e1", "total_duration": 5}],
        "alert": [{"workflow_id": "wf-a", "alert_type": "error", "severity": "warning", "title": "t"}],
    }
    created = ingest(team, {k: validate_records(k, v)[0] for k, v in raw.items()}).created
    revoked, revoked_raw = ServiceToken.issue(team, "old")
    revoked.revoked_at = revoked.created_at
    revoked.save()
    clients = {
        "anonymous": client_for(None),
        "viewer": client_for(make_user("viewer", team, "viewer")),
        "member": client_for(make_user("member", team, "member")),
        "admin": client_for(make_user("admin", team, "admin")),
        "other_admin": client_for(make_user("other", other_team, "admin")),
        "token": client_for(ServiceToken.issue(team, "a")[1]),
        "other_token": client_for(ServiceToken.issue(other_team, "b")[1]),
        "revoked_token": client_for(revoked_raw),
        "malformed": client_for("not-a-flowtower-token"),
        "superuser": client_for(make_user("root", superuser=True)),
    }
    return {"clients": clients, "error": created["error"][0], "alert": created["alert"][0],
            "log": created["log"][0], "workflow": Workflow.objects.get(external_id="wf-a")}


UNAUTHENTICATED = ["anonymous", "revoked_token", "malformed"]
READERS = ["viewer", "member", "admin", "token", "superuser"]
OUTSIDERS = ["other_admin", "other_token"]

READ_PATHS = [
    f"{URL}?type=logs", f"{URL}?type=errors", f"{URL}?type=performance", f"{URL}?type=alerts", f"{URL}?type=dashboard",
    "/api/v1/workflows/", "/api/v1/executions/", "/api/v1/logs/", "/api/v1/errors/", "/api/v1/performance/",
    "/api/v1/alerts/", "/api/v1/schema/", "/api/v1/docs/",
]


@pytest.mark.parametrize("who", UNAUTHENTICATED)
@pytest.mark.parametrize("path", READ_PATHS + [f"{URL}?type=live-status&workflow_id=wf-a"])
def test_unauthenticated_is_401_everywhere(world, who, path):
    r = world["clients"][who].get(path)
    assert r.status_code == 401
    assert r.has_header("WWW-Authenticate")


@pytest.mark.parametrize("who", READERS)
@pytest.mark.parametrize("path", READ_PATHS)
def test_team_roles_and_tokens_read(world, who, path):
    assert world["clients"][who].get(path).status_code == 200


@pytest.mark.parametrize("who", OUTSIDERS)
@pytest.mark.parametrize("path", [p for p in READ_PATHS if "schema" not in p and "docs" not in p])
def test_other_team_sees_none_of_our_rows(world, who, path):
    r = world["clients"][who].get(path, HTTP_ACCEPT="application/json")
    assert r.status_code == 200
    content = r.content.decode()
    for key in ("error", "alert", "log"):
        assert str(world[key].pk) not in content
    assert "wf-a" not in content


@pytest.mark.parametrize("who", OUTSIDERS)
def test_other_teams_objects_are_404_in_every_endpoint_and_filter(world, who):
    c = world["clients"][who]
    error, alert, log, workflow = world["error"], world["alert"], world["log"], world["workflow"]
    for path in (
        f"{URL}?type=live-status&workflow_id=wf-a", f"{URL}?type=logs&workflow_id=wf-a",
        f"{URL}?type=dashboard&workflow_id=wf-a", f"{URL}?type=logs&team=acme",
        f"/api/v1/logs/{log.pk}/", f"/api/v1/errors/{error.pk}/", f"/api/v1/alerts/{alert.pk}/",
        f"/api/v1/workflows/{workflow.pk}/", "/api/v1/logs/?workflow_id=wf-a", "/api/v1/executions/?workflow_id=wf-a",
        "/api/v1/alerts/?team=acme",
    ):
        assert c.get(path).status_code == 404, path
    assert c.patch(f"{URL}?type=error&id={error.pk}", {"resolved": True}, format="json").status_code == 404
    assert c.patch(f"{URL}?type=alert&id={alert.pk}", {"acknowledged": True}, format="json").status_code == 404
    assert c.patch(f"/api/v1/alerts/{alert.pk}/", {"acknowledged": True}, format="json").status_code == 404
    assert c.delete(f"/api/v1/workflows/{workflow.pk}/").status_code == 404
    assert not WorkflowError.objects.get(pk=error.pk).resolved and not Alert.objects.get(pk=alert.pk).acknowledged
    assert Workflow.objects.filter(pk=workflow.pk).exists()


@pytest.mark.parametrize("who, status", [("viewer", 403), ("member", 200), ("admin", 200), ("token", 200),
                                         ("superuser", 200)])
def test_who_may_acknowledge_and_resolve(world, who, status):
    c = world["clients"][who]
    assert c.patch(f"{URL}?type=error&id={world['error'].pk}", {"resolved": True}, format="json").status_code == status
    assert c.patch(f"/api/v1/alerts/{world['alert'].pk}/", {"acknowledged": True}, format="json").status_code == status
    assert WorkflowError.objects.get(pk=world["error"].pk).resolved is (status == 200)


@pytest.mark.parametrize("who, status", [("viewer", 403), ("member", 403), ("admin", 201), ("token", 201),
                                         ("superuser", 201)])
def test_who_may_post_data(world, who, status):
    c = world["clients"][who]
    before = ExecutionLog.objects.count()
    # ?team= names the team: the super admin may post to both.
    r = c.post(f"{URL}?type=log&team=acme", {**LOG, "message": "new"}, format="json")
    assert r.status_code == status, r.content
    r = c.post("/api/v1/executions/?team=acme", {"workflow_id": "wf-a", "execution_id": f"x-{who}"}, format="json")
    assert r.status_code == status
    assert ExecutionLog.objects.count() == before + (1 if status == 201 else 0)


def test_token_writes_go_to_its_own_team(world, team, other_team):
    world["clients"]["other_token"].post(f"{URL}?type=log", LOG, format="json")
    assert Workflow.objects.get(team=other_team, external_id="wf-a").logs.count() == 1
    assert Workflow.objects.get(team=team, external_id="wf-a").logs.count() == 1


@pytest.mark.parametrize("who, status", [("viewer", 403), ("member", 403), ("token", 403), ("admin", 403),
                                         ("other_admin", 403), ("superuser", 200)])
def test_only_super_admins_prune(world, who, status):
    assert world["clients"][who].delete(f"{URL}?retention_days=1").status_code == status
    assert ExecutionLog.objects.exists()


@pytest.mark.parametrize("who, status", [("viewer", 403), ("member", 403), ("token", 403), ("admin", 200)])
def test_who_may_change_workflows(world, who, status):
    r = world["clients"][who].patch(f"/api/v1/workflows/{world['workflow'].pk}/", {"name": "Renamed"}, format="json")
    assert r.status_code == status
    assert (Workflow.objects.get(pk=world["workflow"].pk).name == "Renamed") is (status == 200)


def test_person_in_two_teams_must_name_the_team(world, team, other_team, make_user, client_for):
    from monitoring.models import Membership

    user = make_user("both", team, "admin")
    Membership.objects.create(team=other_team, user=user, role="admin")
    c = client_for(user)
    r = c.post(f"{URL}?type=log", LOG, format="json")
    assert r.status_code == 400 and "team" in r.json()["error"]
    assert c.post(f"{URL}?type=log&team=globex", LOG, format="json").status_code == 201
    assert Workflow.objects.get(team=other_team, external_id="wf-a").logs.count() == 1
    assert c.post(f"{URL}?type=log&team=nope", LOG, format="json").status_code == 404


def test_superuser_sees_every_team(world, other_team):
    world["clients"]["other_token"].post(f"{URL}?type=log", {**LOG, "message": "from globex"}, format="json")
    data = world["clients"]["superuser"].get(f"{URL}?type=logs").json()["data"]
    assert {d["team"] for d in data} == {"acme", "globex"}
