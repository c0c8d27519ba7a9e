"""Shared by the alerting API tests (tests/test_alerting_api_*.py): two teams, acme (A) and globex
(B), and a client for each kind of principal, with what each may do to team A's alerting set-up:

    read     viewers, members, admins of A; A's service tokens; super admins
    write    admins of A and super admins (create, change, delete, send tests, expire silences)

Another team's principals (admin_b, token_b) do not see A's objects at all: 404, never 403."""

import pytest

from monitoring.models import ServiceToken

A, B = "acme", "globex"
READERS = ["viewer_a", "member_a", "admin_a", "token_a", "superuser"]
OUTSIDERS = ["admin_b", "token_b"]
WRITERS = ["admin_a", "superuser"]
READ_ONLY = ["viewer_a", "member_a", "token_a"]
EVERYONE = READERS + OUTSIDERS


def write_status(who, ok):
    """What `who` gets writing to one of team A's objects (or creating one in team A)."""
    if who in WRITERS:
        return ok
    return 403 if who in READ_ONLY else 404


def read_status(who):
    return 200 if who in READERS else 404


@pytest.fixture
def people(team, other_team, make_user, client_for):
    """who -> an API client acting as them."""
    users = {
        "viewer_a": make_user("vera", team, "viewer"),
        "member_a": make_user("max", team, "member"),
        "admin_a": make_user("ada", team, "admin"),
        "admin_b": make_user("bob", other_team, "admin"),
        "superuser": make_user("root", superuser=True),
    }
    clients = {who: client_for(user) for who, user in users.items()}
    clients["token_a"] = client_for(ServiceToken.issue(team, "reader-a")[1])
    clients["token_b"] = client_for(ServiceToken.issue(other_team, "reader-b")[1])
    return clients


def ids(response):
    """The ids in a list answer."""
    assert response.status_code == 200, response.content
    return {item["id"] for item in response.json()["results"]}
