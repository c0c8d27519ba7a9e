"""The Errors page by group: one row per group with its counts, status and a 24-hour sparkline
(read with one query for the page), filtered by status; a group's page with its occurrences and
Resolve / Ignore / Reopen for members (POST with CSRF), none for viewers; another team's group is
a 404; every occurrence is still listed under "All occurrences"."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitoring.error_groups import resolve_group
from monitoring.ingest import ingest
from monitoring.models import ErrorGroup, WorkflowError


def _errors(team, n, message="Invalid payload: missing customer_id [line 3]", node="Validate customer",
            workflow="wf", hours_ago=0):
    at = timezone.now() - timedelta(hours=hours_ago)
    ingest(team, {"error": [{"workflow_id": workflow, "execution_id": f"{workflow}-{node}-{hours_ago}-{i}",
                             "error_type": "validation", "error_message": message, "node_name": node,
                             "severity": "high", "timestamp": at - timedelta(seconds=i)} for i in range(n)]})


@pytest.fixture
def browser_for(make_user):
    def make(team, role, username=None, csrf=False):
        client = Client(enforce_csrf_checks=csrf)
        client.force_login(make_user(username or f"{role}-{team.slug}", team, role))
        return client

    return make


@pytest.fixture
def seeded(team, other_team):
    _errors(team, 47)
    _errors(team, 3, hours_ago=5)
    _errors(team, 2, message="connect ECONNREFUSED 10.0.0.1:443", node="Ping warehouse")
    _errors(other_team, 4, message="theirs failed")
    return {g.node_name: g for g in ErrorGroup.objects.filter(team=team)}


def test_groups_by_default_with_counts_and_sparkline(seeded, team, browser_for):
    html = browser_for(team, "viewer").get("/errors/").content.decode()
    assert html.count("Invalid payload: missing customer_id [line 3]") == 1  # 50 occurrences, one row
    assert "theirs failed" not in html
    row = re.search(r'<tr data-group-id="%d">.*?</tr>' % seeded["Validate customer"].pk, html, re.S).group(0)
    assert '<td data-field="occurrences">50</td>' in row and '<td data-field="affected-executions">50</td>' in row
    assert 'aria-label="50 occurrences in the last 24 hours"' in row
    assert row.count("<rect") == 2  # two hours with occurrences: now and 5 hours ago
    assert "Resolve</button>" not in html  # a viewer


def test_status_filter_and_regressed_badge(seeded, team, browser_for):
    resolve_group(seeded["Ping warehouse"], "alice")
    c = browser_for(team, "viewer")
    assert "ECONNREFUSED" not in c.get("/errors/").content.decode()  # open by default
    assert "ECONNREFUSED" in c.get("/errors/?status=resolved").content.decode()
    _errors(team, 1, message="connect ECONNREFUSED 10.0.0.2:443", node="Ping warehouse", hours_ago=1)
    html = c.get("/errors/?status=regressed").content.decode()
    assert "ECONNREFUSED" in html and ">regressed</span>" in html and "customer_id" not in html
    assert c.get("/errors/?status=nonsense").status_code == 200


def test_sparklines_of_a_page_are_one_query(seeded, team, browser_for):
    for i in range(10):
        _errors(team, 2, message=f"other error kind {chr(97 + i)}", node=f"Node {i}")
    c = browser_for(team, "viewer")
    c.get("/errors/")
    with CaptureQueriesContext(connection) as ctx:
        assert c.get("/errors/").status_code == 200
    on_errors = [q["sql"] for q in ctx.captured_queries if 'FROM "monitoring_workflowerror"' in q["sql"]]
    assert len(on_errors) == 1, on_errors


def test_a_groups_page_lists_its_occurrences(seeded, team, browser_for):
    group = seeded["Ping warehouse"]
    html = browser_for(team, "viewer").get(f"/errors/groups/{group.pk}/").content.decode()
    assert "connect ECONNREFUSED 10.0.0.1:443" in html
    assert html.count('class="item error-item') == 2
    assert "Resolve</button>" not in html and "Ignore</button>" not in html
    assert "its group</a>" not in html  # already there


def test_member_resolves_ignores_and_reopens_with_csrf(seeded, team, browser_for):
    group = seeded["Validate customer"]
    c = browser_for(team, "member", "mia", csrf=True)
    page = c.get(f"/errors/groups/{group.pk}/")
    html = page.content.decode()
    assert "Resolve</button>" in html and "Ignore</button>" in html and "Reopen</button>" not in html
    url = f"/errors/groups/{group.pk}/resolve/"
    assert c.post(url, {"notes": "mapping fixed"}).status_code == 403  # no CSRF token
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    r = c.post(url, {"notes": "mapping fixed", "csrfmiddlewaretoken": token})
    assert r.status_code == 302 and r["Location"] == f"/errors/groups/{group.pk}/"
    group.refresh_from_db()
    assert (group.status, group.resolved_by, group.resolution_notes) == ("resolved", "mia", "mapping fixed")
    assert not WorkflowError.objects.filter(group=group, resolved=False).exists()
    assert "Reopen</button>" in c.get(f"/errors/groups/{group.pk}/").content.decode()
    c.post(f"/errors/groups/{group.pk}/ignore/", {"csrfmiddlewaretoken": token})
    group.refresh_from_db()
    assert group.status == "ignored"
    c.post(f"/errors/groups/{group.pk}/reopen/", {"csrfmiddlewaretoken": token})
    group.refresh_from_db()
    assert group.status == "open"


def test_viewers_may_not_act_and_other_teams_groups_do_not_exist(seeded, team, other_team, browser_for):
    group = seeded["Validate customer"]
    assert browser_for(team, "viewer").post(f"/errors/groups/{group.pk}/resolve/").status_code == 403
    theirs = ErrorGroup.objects.get(team=other_team)
    member = browser_for(team, "member")
    assert member.get(f"/errors/groups/{theirs.pk}/").status_code == 404
    assert member.post(f"/errors/groups/{theirs.pk}/resolve/").status_code == 404
    assert member.post(f"/errors/groups/{group.pk}/explode/").status_code == 404
    assert member.get(f"/errors/groups/{group.pk}/resolve/").status_code == 405
    assert ErrorGroup.objects.get(pk=theirs.pk).status == "open"


def test_all_occurrences_is_still_there(seeded, team, browser_for):
    html = browser_for(team, "viewer").get("/errors/all/").content.decode()
    assert html.count('class="item error-item') == 52
    assert "theirs failed" not in html
    # Each occurrence leads to its group.
    assert f'href="/errors/groups/{seeded["Ping warehouse"].pk}/">its group</a>' in html


def test_page_queries_do_not_grow_with_groups(team, browser_for):
    c = browser_for(team, "member")

    def queries_for_page():
        with CaptureQueriesContext(connection) as ctx:
            assert c.get("/errors/").status_code == 200
        return len(ctx.captured_queries)

    _errors(team, 1, message="failure kind a", workflow="wf-a")
    queries_for_page()  # what a session reads once
    few = queries_for_page()
    for i in range(20):
        _errors(team, 2, message=f"failure kind {chr(98 + i)}", workflow=f"wf-{i}")
    assert queries_for_page() == few


def test_the_overview_says_how_many_open_groups_the_open_errors_come_to(seeded, team, browser_for):
    resolve_group(seeded["Ping warehouse"], "mia")
    html = browser_for(team, "viewer").get("/").content.decode()
    card = html.split('id="open-errors"')[1].split('<div class="card stat"')[0]
    # 50 open occurrences (the resolved group's 2 no longer), listed under All occurrences, in the
    # one group still open; another team's are not counted.
    assert '<a href="/errors/all/">50</a>' in card
    assert '<a href="/errors/">1 open group</a>' in card
