"""/api/v1/error-groups/: a team's groups, filtered and paged; one group and its occurrences;
resolve / ignore / reopen for members and tokens; another team's group does not exist; bad input
is a JSON 400 naming the field; posted errors answer with their group."""

from datetime import datetime, timedelta, timezone

import pytest

from monitoring.ingest import ingest
from monitoring.models import ErrorGroup, WorkflowError

URL = "/api/v1/error-groups/"
START = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)


def _error(execution, minute, message, workflow="wf", node="HTTP Request"):
    return {"workflow_id": workflow, "execution_id": str(execution), "error_type": "network", "node_name": node,
            "error_message": message, "severity": "high", "timestamp": START + timedelta(minutes=minute)}


@pytest.fixture
def world(team, other_team):
    ingest(team, {"error": [_error(1, 0, "connect ECONNREFUSED 10.0.0.1:443"),
                            _error(2, 5, "connect ECONNREFUSED 10.0.0.9:443"),
                            _error(3, 10, "Invalid payload: missing customer_id [line 3]", workflow="wf2",
                                   node="Validate customer")]})
    ingest(other_team, {"error": [_error(1, 0, "connect ECONNREFUSED 10.0.0.1:443")]})
    groups = {g.node_name: g for g in ErrorGroup.objects.filter(team=team)}
    return {"refused": groups["HTTP Request"], "invalid": groups["Validate customer"],
            "theirs": ErrorGroup.objects.get(team=other_team)}


@pytest.fixture
def member(make_user, client_for, team):
    return client_for(make_user("mia", team, "member"))


@pytest.fixture
def viewer(make_user, client_for, team):
    return client_for(make_user("vic", team, "viewer"))


def test_list_is_the_teams_groups_newest_activity_first(world, api):
    response = api.get(URL)
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [r["id"] for r in rows] == [world["invalid"].pk, world["refused"].pk]
    refused = rows[1]
    assert (refused["title"], refused["occurrences"], refused["affected_executions"]) == (
        "connect ECONNREFUSED 10.0.0.1:443", 2, 2)
    assert (refused["workflow_id"], refused["team"], refused["status"], refused["regressed"]) == (
        "wf", "acme", "open", False)


@pytest.mark.parametrize("query, expected", [
    ("?workflow_id=wf", ["refused"]),
    ("?search=customer_id", ["invalid"]),
    ("?search=validate", ["invalid"]),
    ("?status=resolved", []),
    ("?status=open,ignored", ["invalid", "refused"]),
    ("?since=2026-11-01T09:08:00Z", ["invalid"]),
    ("?until=2026-11-01T09:01:00Z", ["refused"]),
    ("?regressed=false", ["invalid", "refused"]),
])
def test_filters(world, api, query, expected):
    response = api.get(URL + query)
    assert response.status_code == 200, response.content
    assert [r["id"] for r in response.json()["results"]] == [world[name].pk for name in expected]


def test_cursor_pages(world, api):
    first = api.get(URL + "?limit=1").json()
    assert len(first["results"]) == 1 and first["next"]
    second = api.get(first["next"]).json()
    assert [r["id"] for r in first["results"] + second["results"]] == [world["invalid"].pk, world["refused"].pk]


def test_detail_and_occurrences(world, api):
    group = world["refused"]
    detail = api.get(f"{URL}{group.pk}/")
    assert detail.status_code == 200 and detail.json()["fingerprint"] == group.fingerprint
    occurrences = api.get(f"{URL}{group.pk}/errors/").json()["results"]
    assert [o["error_message"] for o in occurrences] == ["connect ECONNREFUSED 10.0.0.9:443",
                                                         "connect ECONNREFUSED 10.0.0.1:443"]
    assert {o["group_id"] for o in occurrences} == {group.pk}


def test_another_teams_group_does_not_exist(world, api, member):
    theirs = world["theirs"].pk
    for client in (api, member):
        assert client.get(f"{URL}{theirs}/").status_code == 404
        assert client.get(f"{URL}{theirs}/errors/").status_code == 404
        assert client.post(f"{URL}{theirs}/resolve/", {}, format="json").status_code == 404
        assert theirs not in [r["id"] for r in client.get(URL).json()["results"]]
    assert ErrorGroup.objects.get(pk=theirs).status == "open"


def test_everything_needs_credentials(world, client_for):
    anonymous = client_for(None)
    group = world["refused"].pk
    for response in (anonymous.get(URL), anonymous.get(f"{URL}{group}/"), anonymous.get(f"{URL}{group}/errors/"),
                     anonymous.post(f"{URL}{group}/resolve/", {}, format="json")):
        assert response.status_code == 401 and response["Content-Type"] == "application/json"


def test_member_resolves_ignores_and_reopens(world, member):
    group = world["refused"]
    response = member.post(f"{URL}{group.pk}/resolve/", {"resolution_notes": "CRM back up"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["resolved_by"], body["resolution_notes"]) == ("resolved", "mia", "CRM back up")
    assert not WorkflowError.objects.filter(group=group, resolved=False).exists()
    assert member.post(f"{URL}{group.pk}/reopen/", format="json").json()["status"] == "open"
    assert member.post(f"{URL}{group.pk}/ignore/", {}, format="json").json()["status"] == "ignored"


def test_a_token_may_name_who_resolved(world, api):
    body = api.post(f"{URL}{world['refused'].pk}/resolve/", {"resolved_by": "alice"}, format="json").json()
    assert body["resolved_by"] == "alice (via token:ci)"


def test_a_viewer_may_read_not_act(world, viewer):
    group = world["refused"].pk
    assert viewer.get(f"{URL}{group}/").status_code == 200
    response = viewer.post(f"{URL}{group}/resolve/", {}, format="json")
    assert response.status_code == 403 and "member" in response.json()["detail"]
    assert ErrorGroup.objects.get(pk=group).status == "open"


@pytest.mark.parametrize("method, path, body, field", [
    ("get", "?status=closed", None, "status"),
    ("get", "?since=yesterday", None, "since"),
    ("get", "?regressed=maybe", None, "regressed"),
    ("get", "?limit=0", None, "limit"),
    ("get", "?cursor=nonsense", None, "cursor"),
    ("post", "{pk}/resolve/", {"resolution_notes": ["not", "text"]}, "resolution_notes"),
    ("post", "{pk}/resolve/", {"notes": "typo"}, "notes"),
    ("post", "{pk}/ignore/", {"status": "ignored"}, "status"),
])
def test_bad_input_is_a_json_400_naming_the_field(world, member, method, path, body, field):
    url = URL + path.format(pk=world["refused"].pk)
    response = member.get(url) if method == "get" else member.post(url, body, format="json")
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert field in response.json(), response.json()


def test_an_id_that_is_not_a_number_is_a_404(world, api):
    assert api.get(f"{URL}abc/").status_code == 404


def test_posted_errors_answer_with_their_group_and_accept_a_fingerprint(api, team):
    first = api.post("/api/v1/errors/", {**_error(7, 0, "Timeout after 3000 ms"),
                                         "fingerprint": "crm-timeouts"}, format="json")
    assert first.status_code == 201, first.content
    second = api.post("/api/v1/errors/", {**_error(8, 0, "Read timed out"),
                                          "fingerprint": "crm-timeouts"}, format="json")
    assert first.json()["group_id"] == second.json()["group_id"] == ErrorGroup.objects.get().pk
    blank = api.post("/api/v1/errors/", {**_error(9, 0, "x"), "fingerprint": " "}, format="json")
    assert blank.status_code == 400 and "fingerprint" in blank.json()
    too_long = api.post("/api/v1/errors/", {**_error(9, 0, "x"), "fingerprint": "f" * 256},
                        format="json")
    assert too_long.status_code == 400 and "fingerprint" in too_long.json()


def test_the_monitoring_endpoint_lists_groups(world, api):
    url = "/api/workflows/monitoring?type=error_groups"
    body = api.get(url).json()
    assert body["success"] and [g["id"] for g in body["data"]] == [world["invalid"].pk, world["refused"].pk]
    assert body["pagination"] == {"limit": 50, "offset": 0, "has_more": False}
    assert [g["id"] for g in api.get(url + "&workflow_id=wf&limit=1").json()["data"]] == [world["refused"].pk]
    assert api.get(url + "&q=CUSTOMER").json()["data"][0]["id"] == world["invalid"].pk
    assert api.get(url + "&group_status=resolved,ignored").json()["data"] == []
    assert [g["id"] for g in api.get(url + "&start_time=2026-11-01T09:08:00Z").json()["data"]] == [world["invalid"].pk]
    bad = api.get(url + "&group_status=closed")
    assert bad.status_code == 400 and "group_status" in bad.json()["details"]


def test_list_queries_do_not_grow_with_groups(team, api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for_list():
        with CaptureQueriesContext(connection) as ctx:
            assert api.get(URL + "?limit=100").status_code == 200
        return len(ctx.captured_queries)

    ingest(team, {"error": [_error(i, i, f"failure kind {chr(97 + i)}", workflow=f"wf{i}") for i in range(3)]})
    queries_for_list()  # the token is looked up once, then cached
    few = queries_for_list()
    ingest(team, {"error": [_error(i, i, f"failure kind {chr(97 + i)}", workflow=f"wf{i}") for i in range(3, 25)]})
    assert queries_for_list() == few
