"""Django admin for error groups: read-mostly, scoped to the user's teams; resolve / ignore /
reopen actions go through monitoring.error_groups (audit entry and event), only in teams where
the user may respond."""

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django.urls import reverse

from monitoring import events
from monitoring.ingest import ingest
from monitoring.models import ErrorGroup, Membership, WorkflowError

URL = reverse("admin:monitoring_errorgroup_changelist")


def _seed(team, message):
    ingest(team, {"error": [{"workflow_id": "wf", "execution_id": str(i), "error_type": "network",
                             "error_message": message, "severity": "high"} for i in range(3)]})
    return ErrorGroup.objects.get(team=team)


def _login(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def groups(team, other_team):
    return _seed(team, "ours failed"), _seed(other_team, "theirs failed")


def test_lists_only_the_users_teams(groups, team, make_user):
    mine, theirs = groups
    client = _login(make_user("vic", team, "viewer"))
    response = client.get(URL)
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [mine]
    assert client.get(reverse("admin:monitoring_errorgroup_change", args=[theirs.pk])).status_code == 302
    root = _login(make_user("root", superuser=True))
    assert set(root.get(URL).context["cl"].result_list) == {mine, theirs}


def test_member_resolves_through_the_plain_function(groups, team, other_team, make_user,
                                                    django_capture_on_commit_callbacks):
    mine, theirs = groups
    member = make_user("mia", team, "member")
    Membership.objects.create(team=other_team, user=member, role="viewer")
    seen = []

    def listener(event, **kwargs):
        seen.append(event)

    events.monitoring_event.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = _login(member).post(URL, {"action": "resolve", "index": "0",
                                                 "_selected_action": [str(mine.pk), str(theirs.pk)]})
    finally:
        events.monitoring_event.disconnect(listener)
    assert response.status_code == 302
    mine.refresh_from_db()
    assert (mine.status, mine.resolved_by) == ("resolved", "mia")
    assert not WorkflowError.objects.filter(group=mine, resolved=False).exists()
    assert ErrorGroup.objects.get(pk=theirs.pk).status == "open"  # only a viewer there
    entry = LogEntry.objects.get_for_object(mine).get()
    assert entry.actor == member and entry.changes_dict["status"] == ["open", "resolved"]
    assert [(e.type, e.action, e.data["id"]) for e in seen] == [("error_group", "updated", mine.pk)]


def test_viewers_have_no_actions_and_nobody_edits_counts(groups, team, make_user):
    mine, _ = groups
    viewer = _login(make_user("vic", team, "viewer"))
    viewer.post(URL, {"action": "ignore", "index": "0", "_selected_action": [str(mine.pk)]})
    assert ErrorGroup.objects.get(pk=mine.pk).status == "open"
    root = _login(make_user("root", superuser=True))
    page = root.get(reverse("admin:monitoring_errorgroup_change", args=[mine.pk]))
    assert page.status_code == 200 and 'name="occurrences"' not in page.content.decode()
