"""The role × team × endpoint matrix of both REST APIs — the monitoring endpoint
(/api/workflows/monitoring) and /api/v1/ — as monitoring/access.py defines it:

    read     viewers, members, admins of the team; the team's service tokens; super admins
    respond  acknowledge / resolve errors and alerts: members, admins, tokens, super admins
    ingest   post data, create and change executions: admins, tokens, super admins
    manage   change workflows: admins, super admins
    prune    DELETE data for retention: super admins only

Another team's objects do not exist for a principal: 404 by id and through a workflow_id or team
filter, and lists never contain them. Without valid credentials every endpoint answers 401 with
WWW-Authenticate, the OpenAPI schema and its docs page included.

Each test runs one row of a table below against a fresh world of two teams: A (acme) and B
(globex), each with a workflow, an execution, logs, errors, performance records and alerts.
"""

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from monitoring.access import INGEST, MANAGE, PRUNE, READ, RESPOND
from monitoring.ingest import ingest
from monitoring.models import (
    Alert,
    Execution,
    ExecutionLog,
    Membership,
    PerformanceMetric,
    ServiceToken,
    Team,
    Workflow,
    WorkflowError,
)
from monitoring.schemas import validate_records

URL = "/api/workflows/monitoring"
A, B = "acme", "globex"

# --- principals ------------------------------------------------------------------------------------
# What each principal may do in team A; None: not authenticated at all.
RIGHTS_IN_A = {
    "anonymous": None,
    "revoked_token": None,  # team A's token, revoked
    "malformed_bearer": None,
    "viewer_a": {READ},
    "member_a": {READ, RESPOND},
    "admin_a": {READ, RESPOND, INGEST, MANAGE},
    "token_a": {READ, RESPOND, INGEST},
    "admin_b": set(),
    "token_b": set(),
    "superuser": {READ, RESPOND, INGEST, MANAGE, PRUNE},
}
# Whose rows each principal sees in lists.
SEES = {"viewer_a": {A}, "member_a": {A}, "admin_a": {A}, "token_a": {A},
        "admin_b": {B}, "token_b": {B}, "superuser": {A, B}}
PRINCIPALS = list(RIGHTS_IN_A)
UNAUTHENTICATED = [who for who, rights in RIGHTS_IN_A.items() if rights is None]
AUTHENTICATED = [who for who, rights in RIGHTS_IN_A.items() if rights is not None]


def expected(who, action, ok):
    """The status `who` gets doing `action` to one of team A's objects, when `ok` is success."""
    rights = RIGHTS_IN_A[who]
    if rights is None:
        return 401
    if action is None:  # the method is not offered on this endpoint
        return 405
    if READ not in rights:  # another team's object does not exist for you
        return 404
    return ok if action in rights else 403


# --- the world -------------------------------------------------------------------------------------
def _records(wf, ex):
    return {
        "log": [{"workflow_id": wf, "execution_id": ex, "log_level": "info", "message": "m"}],
        "error": [{"workflow_id": wf, "execution_id": ex, "error_message": "boom"},
                  {"workflow_id": wf, "execution_id": ex, "error_message": "boom 2"}],
        "performance": [{"workflow_id": wf, "execution_id": ex, "total_duration": 5}],
        "alert": [{"workflow_id": wf, "alert_type": "error", "severity": "warning", "title": "t"},
                  {"workflow_id": wf, "alert_type": "error", "severity": "critical", "title": "t2"}],
    }


@dataclass
class World:
    clients: dict  # principal name -> APIClient
    a: dict  # names of team A's objects (workflow, execution, log, error, error2, …) -> pk
    ids: dict  # (team slug, resource) -> set of the ids of that team's rows

    def path(self, template):
        return template.format(**self.a)


@pytest.fixture(scope="module")
def _world_data(django_db_setup, django_db_blocker):
    """Built once for the module's hundreds of tests, inside a transaction that is rolled back at
    its end; each test runs in its own savepoint within (pytest-django's `db`), so whatever a test
    writes is undone before the next."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            data = _build_world()
        except BaseException:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            raise
    yield data
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


def _build_world():
    team, other_team = Team.objects.create(slug=A, name="Acme"), Team.objects.create(slug=B, name="Globex")
    ids = {}
    for t, wf, ex in ((team, "wf-a", "ex-a"), (other_team, "wf-b", "ex-b")):
        created = ingest(t, {k: validate_records(k, v)[0] for k, v in _records(wf, ex).items()}).created
        ids[t.slug, "logs"] = {str(o.pk) for o in created["log"]}
        ids[t.slug, "errors"] = {str(o.pk) for o in created["error"]}
        ids[t.slug, "performance"] = {str(o.pk) for o in created["performance"]}
        ids[t.slug, "alerts"] = {str(o.pk) for o in created["alert"]}
        ids[t.slug, "workflows"] = set(Workflow.objects.filter(team=t).values_list("pk", flat=True))
        ids[t.slug, "executions"] = set(Execution.objects.filter(workflow__team=t).values_list("pk", flat=True))
        if t == team:
            errors, alerts = created["error"], created["alert"]
            a = {"workflow": created["log"][0].workflow_id, "execution": created["log"][0].execution_id,
                 "log": created["log"][0].pk, "error": errors[0].pk, "error2": errors[1].pk,
                 "performance": created["performance"][0].pk, "alert": alerts[0].pk, "alert2": alerts[1].pk}
    revoked, revoked_raw = ServiceToken.issue(team, "revoked")
    revoked.revoked_at = timezone.now()
    revoked.save()

    def user(name, t=None, role=None, superuser=False):
        u = get_user_model().objects.create_user(name, password="pw-not-used-1234", is_staff=True,
                                                 is_superuser=superuser)
        if t is not None:
            Membership.objects.create(team=t, user=u, role=role)
        return u

    credentials = {
        "anonymous": None,
        "revoked_token": revoked_raw,
        "malformed_bearer": "not-a-flowtower-token",
        "viewer_a": user("viewer_a", team, "viewer"),
        "member_a": user("member_a", team, "member"),
        "admin_a": user("admin_a", team, "admin"),
        "token_a": ServiceToken.issue(team, "a")[1],
        "admin_b": user("admin_b", other_team, "admin"),
        "token_b": ServiceToken.issue(other_team, "b")[1],
        "superuser": user("root", superuser=True),
    }
    return credentials, a, ids


@pytest.fixture
def world(db, _world_data, client_for):
    credentials, a, ids = _world_data
    return World({who: client_for(c) for who, c in credentials.items()}, a, ids)


def call(client, method, path, body=None):
    if body is None:
        return getattr(client, method)(path, HTTP_ACCEPT="application/json")
    return getattr(client, method)(path, body, format="json", HTTP_ACCEPT="application/json")


# --- the table: operations on team A's objects ---------------------------------------------------
@dataclass
class Op:
    method: str
    path: str  # formatted with World.a
    action: str | None  # what it needs (None: not offered)
    ok: int = 200
    body: dict | None = None
    done: object = None  # world -> bool: whether the change happened, for writes

    def __str__(self):
        return f"{self.method.upper()} {self.path}"


RESOURCES = {"workflows": "workflow", "executions": "execution", "logs": "log", "errors": "error",
             "performance": "performance", "alerts": "alert"}
MONITORING_LISTS = ["logs", "errors", "performance", "alerts"]

OBJECT_OPS = [
    # retrieve by id
    *[Op("get", f"/api/v1/{r}/{{{name}}}/", READ) for r, name in RESOURCES.items()],
    # filters naming team A's workflow or team A itself
    Op("get", f"{URL}?type=live-status&workflow_id=wf-a", READ),
    *[Op("get", f"{URL}?type={t}&workflow_id=wf-a", READ) for t in [*MONITORING_LISTS, "dashboard"]],
    Op("get", f"{URL}?type=errors&team={A}", READ),
    *[Op("get", f"/api/v1/{r}/?workflow_id=wf-a", READ) for r in RESOURCES],
    Op("get", f"/api/v1/alerts/?team={A}", READ),
    # changes by id
    Op("patch", f"{URL}?type=error&id={{error}}", RESPOND, body={"resolved": True},
       done=lambda w: WorkflowError.objects.get(pk=w.a["error"]).resolved),
    Op("patch", f"{URL}?type=alert&id={{alert}}", RESPOND, body={"acknowledged": True},
       done=lambda w: Alert.objects.get(pk=w.a["alert"]).acknowledged),
    Op("patch", "/api/v1/errors/{error2}/", RESPOND, body={"resolved": True},
       done=lambda w: WorkflowError.objects.get(pk=w.a["error2"]).resolved),
    Op("patch", "/api/v1/alerts/{alert2}/", RESPOND, body={"acknowledged": True, "resolved": True},
       done=lambda w: Alert.objects.get(pk=w.a["alert2"]).resolved),
    Op("patch", "/api/v1/executions/{execution}/", INGEST, body={"mode": "patched"},
       done=lambda w: Execution.objects.get(pk=w.a["execution"]).mode == "patched"),
    Op("patch", "/api/v1/workflows/{workflow}/", MANAGE, body={"name": "Renamed"},
       done=lambda w: Workflow.objects.get(pk=w.a["workflow"]).name == "Renamed"),
    Op("put", "/api/v1/workflows/{workflow}/", MANAGE, body={"name": "Put", "active": False},
       done=lambda w: Workflow.objects.get(pk=w.a["workflow"]).name == "Put"),
    Op("delete", "/api/v1/workflows/{workflow}/", MANAGE, ok=204,
       done=lambda w: not Workflow.objects.filter(pk=w.a["workflow"]).exists()),
    Op("patch", "/api/v1/logs/{log}/", None, body={"message": "x"}),
    Op("patch", "/api/v1/performance/{performance}/", None, body={"total_duration": 1}),
]


@pytest.mark.parametrize("op", OBJECT_OPS, ids=str)
@pytest.mark.parametrize("who", PRINCIPALS)
def test_operations_on_team_a_objects(world, who, op):
    r = call(world.clients[who], op.method, world.path(op.path), op.body)
    status = expected(who, op.action, op.ok)
    assert r.status_code == status, r.content[:300]
    if status == 401:
        assert r.has_header("WWW-Authenticate")
    if op.done is not None:
        assert op.done(world) is (status == op.ok)
    if status == 200 and op.method == "get":
        # Through these filters A's readers get A's rows, never B's.
        body = r.json()
        teams = {row.get("team") for row in rows_of(body)} | {body.get("team")}
        assert B not in teams


# --- lists: every principal sees its teams' rows, and none of anyone else's -----------------------
LISTS = [
    *[(f"{URL}?type={t}", t) for t in MONITORING_LISTS],
    (f"{URL}?type=dashboard", ("logs", "errors", "alerts")),
    *[(f"/api/v1/{r}/", r) for r in RESOURCES],
]


def rows_of(body):
    """The rows of a list answer of either API (the monitoring endpoint's envelope, a v1 page, the
    dashboard)."""
    if isinstance(body, dict) and "success" in body:
        body = body["data"]
    if isinstance(body, dict) and "recent_activity" in body:
        return [row for rows in body["recent_activity"].values() for row in rows]
    if isinstance(body, dict) and "results" in body:
        return body["results"]
    return body if isinstance(body, list) else []


@pytest.mark.parametrize("path, resources", LISTS, ids=[p for p, _ in LISTS])
@pytest.mark.parametrize("who", PRINCIPALS)
def test_lists_show_exactly_the_principals_teams(world, who, path, resources):
    r = call(world.clients[who], "get", path)
    if who in UNAUTHENTICATED:
        assert r.status_code == 401 and r.has_header("WWW-Authenticate")
        return
    assert r.status_code == 200
    resources = (resources,) if isinstance(resources, str) else resources
    rows = rows_of(r.json())
    seen = {str(row["id"]) for row in rows}
    # Every row says whose it is, and it is one of the principal's teams.
    assert {row["team"] for row in rows} <= SEES[who]
    if A not in SEES[who]:
        assert "wf-a" not in r.content.decode()
    for slug in (A, B):
        theirs = {str(pk) for res in resources for pk in world.ids[slug, res]}
        if slug in SEES[who]:
            assert theirs <= seen, f"{who} misses {slug}'s rows"
        else:
            assert not theirs & seen, f"{who} sees {slug}'s rows"


def test_dashboard_counts_only_the_principals_teams(world):
    for who, errors in (("viewer_a", 2), ("token_b", 2), ("superuser", 4)):
        data = call(world.clients[who], "get", f"{URL}?type=dashboard").json()["data"]
        assert data["total_errors"] == errors, who


# --- schema and docs -------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/v1/schema/", "/api/v1/docs/"])
@pytest.mark.parametrize("who", PRINCIPALS)
def test_schema_and_docs_need_credentials(world, who, path):
    r = world.clients[who].get(path)
    if who in UNAUTHENTICATED:
        assert r.status_code == 401 and r.has_header("WWW-Authenticate")
    else:
        assert r.status_code == 200


# --- posting data ----------------------------------------------------------------------------------
def _body(kind, n):
    wf, ex = f"wf-new-{n}", f"ex-new-{n}"
    return _records(wf, ex)[kind][0]


@dataclass
class Post:
    path: str
    body: dict
    model: type
    count: int = 1

    def __str__(self):
        return self.path


POSTS = [
    *[Post(f"{URL}?type={kind}", _body(kind, 1), model)
      for kind, model in (("log", ExecutionLog), ("error", WorkflowError), ("performance", PerformanceMetric),
                          ("alert", Alert))],
    Post(f"{URL}?type=batch", {"logs": [_body("log", 2)], "errors": [_body("error", 2), _body("error", 3)]},
         WorkflowError, count=2),
    Post("/api/v1/workflows/", {"workflow_id": "wf-created", "name": "Created"}, Workflow),
    Post("/api/v1/executions/", {"workflow_id": "wf-a", "execution_id": "ex-created"}, Execution),
    Post("/api/v1/logs/", _body("log", 4), ExecutionLog),
    Post("/api/v1/errors/", _body("error", 4), WorkflowError),
    Post("/api/v1/performance/", _body("performance", 4), PerformanceMetric),
    Post("/api/v1/alerts/", _body("alert", 4), Alert),
]

# Posting without ?team=: a token writes to its own team; a person to the one team they may post
# to; a super admin, who may post to every team, must name one.
WITHOUT_TEAM = {"viewer_a": (403, None), "member_a": (403, None), "admin_a": (201, A), "token_a": (201, A),
                "admin_b": (201, B), "token_b": (201, B), "superuser": (400, None)}


def _team_of(model):
    return "team__slug" if model is Workflow else "workflow__team__slug"


def _counts(model):
    return {slug: model.objects.filter(**{_team_of(model): slug}).count() for slug in (A, B)}


@pytest.mark.parametrize("post", POSTS, ids=str)
@pytest.mark.parametrize("who", PRINCIPALS)
def test_post_without_naming_a_team(world, who, post):
    before = _counts(post.model)
    r = call(world.clients[who], "post", post.path, post.body)
    status, into = (401, None) if who in UNAUTHENTICATED else WITHOUT_TEAM[who]
    assert r.status_code == status, r.content[:300]
    if status == 400:
        assert "team" in r.content.decode()
    assert _counts(post.model) == {slug: n + (post.count if slug == into else 0) for slug, n in before.items()}


@pytest.mark.parametrize("post", POSTS, ids=str)
@pytest.mark.parametrize("who", PRINCIPALS)
def test_post_into_team_a(world, who, post):
    """?team=acme: only A's admins, A's tokens and super admins may; for team B it does not exist."""
    before = _counts(post.model)
    sep = "&" if "?" in post.path else "?"
    r = call(world.clients[who], "post", f"{post.path}{sep}team={A}", post.body)
    status = expected(who, INGEST, 201)
    assert r.status_code == status, r.content[:300]
    assert _counts(post.model) == {A: before[A] + (post.count if status == 201 else 0), B: before[B]}


def test_a_token_cannot_write_to_another_team(world):
    token_a = world.clients["token_a"]
    before = _counts(ExecutionLog)
    assert call(token_a, "post", f"{URL}?type=log&team={B}", _body("log", 9)).status_code == 404
    assert call(token_a, "post", f"/api/v1/logs/?team={B}", _body("log", 9)).status_code == 404
    assert _counts(ExecutionLog) == before
    assert not Workflow.objects.filter(team__slug=B, external_id="wf-new-9").exists()


def test_the_same_workflow_id_in_another_team_is_another_workflow(world):
    """Team B posting for "wf-a" (team A's id) creates B's own workflow and touches nothing of A's."""
    a_logs = ExecutionLog.objects.filter(workflow__team__slug=A).count()
    r = call(world.clients["token_b"], "post", f"{URL}?type=log", _records("wf-a", "ex-a")["log"][0])
    assert r.status_code == 201 and r.json()["data"]["team"] == B
    assert Workflow.objects.get(team__slug=B, external_id="wf-a").logs.count() == 1
    assert ExecutionLog.objects.filter(workflow__team__slug=A).count() == a_logs
    assert Workflow.objects.get(team__slug=A, external_id="wf-a").pk == world.a["workflow"]


def test_a_person_in_two_teams_must_name_the_team(world, team, other_team, make_user, client_for):
    user = make_user("both", team, "admin")
    Membership.objects.create(team=other_team, user=user, role="admin")
    c = client_for(user)
    for path in (f"{URL}?type=log", "/api/v1/logs/"):
        r = call(c, "post", path, _body("log", 5))
        assert r.status_code == 400
        assert "team" in (r.json()["error"] if path.startswith(URL) else r.json())
    assert call(c, "post", f"{URL}?type=log&team={B}", _body("log", 5)).status_code == 201
    assert Workflow.objects.get(external_id="wf-new-5").team == other_team
    assert call(c, "post", f"{URL}?type=log&team=nope", _body("log", 6)).status_code == 404


def test_admin_in_one_team_viewer_in_another_posts_to_the_one(world, team, other_team, make_user, client_for):
    user = make_user("mixed", team, "viewer")
    Membership.objects.create(team=other_team, user=user, role="admin")
    c = client_for(user)
    assert call(c, "post", f"{URL}?type=log", _body("log", 7)).status_code == 201
    assert Workflow.objects.get(external_id="wf-new-7").team == other_team
    r = call(c, "post", f"{URL}?type=log&team={A}", _body("log", 8))
    assert r.status_code == 403


# --- retention -------------------------------------------------------------------------------------
@pytest.mark.parametrize("who", PRINCIPALS)
def test_only_super_admins_delete_for_retention(world, who):
    old = ExecutionLog.objects.get(pk=world.a["log"])
    old.timestamp = timezone.now() - timedelta(days=30)
    old.save()
    r = call(world.clients[who], "delete", f"{URL}?retention_days=7")
    status = 401 if who in UNAUTHENTICATED else 200 if who == "superuser" else 403
    assert r.status_code == status, r.content[:300]
    assert ExecutionLog.objects.filter(pk=old.pk).exists() is (status != 200)
    if status == 200:
        assert r.json()["data"]["deleted"]["logs"] == 1
    # Newer data is always kept.
    assert ExecutionLog.objects.filter(workflow__team__slug=B).exists()
