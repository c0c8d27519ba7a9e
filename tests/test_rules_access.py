"""README, "Teams, roles and service tokens": who may do what, asked of monitoring.access directly
(the one place every adapter asks), so the table is pinned by fast tests.

| action                                   | viewer | member | admin | token | super admin |
| read the team's data                     |   ✓    |   ✓    |   ✓   |   ✓   | ✓ all teams |
| acknowledge / resolve                    |        |   ✓    |   ✓   |   ✓   |      ✓      |
| post data, create / update executions    |        |        |   ✓   |   ✓   |      ✓      |
| change or delete workflows, tokens, ...  |        |        |   ✓   |       |      ✓      |
| delete data for retention                |        |        |       |       |      ✓      |
"""

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser

from monitoring.access import INGEST, MANAGE, PRUNE, READ, RESPOND, Principal, principal_from_request, scope
from monitoring.models import Membership, Role, ServiceToken, Workflow

TABLE = {
    "viewer": {READ},
    "member": {READ, RESPOND},
    "admin": {READ, RESPOND, INGEST, MANAGE},
    "token": {READ, RESPOND, INGEST},
}
ACTIONS = [READ, RESPOND, INGEST, MANAGE, PRUNE]


@pytest.fixture
def principal_for(team, make_user):
    def make(who):
        if who == "token":
            return Principal(token=ServiceToken.issue(team, "svc")[0])
        if who == "superuser":
            return Principal(user=make_user("root", superuser=True))
        return Principal(user=make_user(f"u-{who}", team, who))

    return make


@pytest.mark.parametrize("who", ["viewer", "member", "admin", "token"])
@pytest.mark.parametrize("action", ACTIONS)
def test_the_roles_table_in_the_own_team(principal_for, team, other_team, who, action):
    principal = principal_for(who)
    allowed = action in TABLE[who]
    assert principal.can(action, team.pk) is allowed
    assert principal.team_ids(action) == ({team.pk} if allowed else set())
    assert principal.can(action, other_team.pk) is False  # never in another team
    assert list(principal.teams(action)) == ([team] if allowed else [])


@pytest.mark.parametrize("action", ACTIONS)
def test_super_admins_may_do_everything_in_every_team(principal_for, team, other_team, action):
    principal = principal_for("superuser")
    assert principal.team_ids(action) is None
    assert principal.can(action, team.pk) and principal.can(action, other_team.pk)
    assert set(principal.teams(action)) == {team, other_team}


def test_a_deactivated_super_admin_is_no_super_admin(make_user, team):
    root = make_user("root", superuser=True)
    root.is_active = False
    principal = Principal(user=root)
    assert not principal.is_superuser
    assert principal.team_ids(READ) == set() and not principal.can(READ, team.pk)


def test_roles_in_several_teams_are_kept_apart(make_user, team, other_team):
    user = make_user("both", team, "admin")
    Membership.objects.create(team=other_team, user=user, role="viewer")
    principal = Principal(user=user)
    assert principal.team_ids(READ) == {team.pk, other_team.pk}
    assert principal.team_ids(INGEST) == {team.pk}


def test_no_membership_or_no_sign_in_sees_nothing(make_user, team):
    for principal in (Principal(user=make_user("loner")), Principal(user=AnonymousUser())):
        assert all(principal.team_ids(action) == set() for action in ACTIONS)


def test_scope_keeps_only_allowed_teams(principal_for, team, other_team):
    mine = Workflow.objects.create(team=team, external_id="mine")
    Workflow.objects.create(team=other_team, external_id="theirs")
    member = principal_for("member")
    assert list(scope(Workflow.objects.all(), member, READ, team_field="team")) == [mine]
    assert list(scope(Workflow.objects.all(), member, INGEST, team_field="team")) == []
    assert scope(Workflow.objects.all(), principal_for("superuser"), PRUNE, team_field="team").count() == 2


def test_identity_for_idempotency_and_records(principal_for, make_user, team):
    token = principal_for("token")
    user = make_user("mia", team, "member")
    assert token.key == f"token:{token.token.pk}" and token.display_name == "token:svc"
    assert Principal(user=user).key == f"user:{user.pk}" and Principal(user=user).display_name == "mia"


def test_the_request_principal_is_its_token_else_its_user(team, make_user):
    token = ServiceToken.issue(team, "svc")[0]
    user = make_user("mia", team, "viewer")
    by_token = principal_from_request(SimpleNamespace(auth=token, user=user))
    assert by_token.token == token and by_token.can(INGEST, team.pk)
    by_user = principal_from_request(SimpleNamespace(auth=None, user=user))
    assert by_user.token is None and by_user.user == user and not by_user.can(INGEST, team.pk)
    # Read once per request: memberships are not queried again.
    request = SimpleNamespace(auth=None, user=user)
    assert principal_from_request(request) is principal_from_request(request)


def test_the_table_names_every_role():
    assert {r.value for r in Role} | {"token"} == set(TABLE)
