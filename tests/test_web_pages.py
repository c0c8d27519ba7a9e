"""The team members' pages: sign-in, team scoping, filters, resolve and acknowledge by role."""

import pytest
from auditlog.models import LogEntry
from django.test import Client

from monitoring.ingest import ingest
from monitoring.models import Alert, Execution, Workflow, WorkflowError
from monitoring.schemas import validate_records


def seed(team, workflow_id="wf-1", execution_id="e1", message="hello"):
    raw = {
        "log": [{"workflow_id": workflow_id, "execution_id": execution_id, "log_level": "warn", "message": message,
                 "node_name": "Fetch", "step_number": 1, "duration": 120}],
        "error": [{"workflow_id": workflow_id, "execution_id": execution_id, "error_message": f"{message} failed",
                   "severity": "high", "error_type": "network"}],
        "performance": [{"workflow_id": workflow_id, "execution_id": execution_id, "total_duration": 900,
                         "node_count": 2, "failed_nodes": 1, "bottleneck_nodes": ["Fetch"]}],
        "alert": [{"workflow_id": workflow_id, "alert_type": "error", "severity": "critical", "title": f"{message} alert"}],
    }
    return ingest(team, {k: validate_records(k, v)[0] for k, v in raw.items()})


@pytest.fixture
def browser_for(make_user):
    def make(team, role, username=None):
        client = Client()
        client.force_login(make_user(username or f"{role}-{team.slug}", team, role))
        return client

    return make


PAGES = ["/", "/?period=1h", "/?period=7d", "/?period=30d", "/workflows/", "/logs/", "/errors/", "/alerts/"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_need_sign_in(db, client, path):
    r = client.get(path)
    assert r.status_code == 302 and r["Location"].startswith("/login/")


@pytest.mark.parametrize("path", PAGES)
def test_pages_show_only_the_users_teams(team, other_team, browser_for, path):
    seed(team, message="ours")
    seed(other_team, message="theirs")
    r = browser_for(team, "viewer").get(path)
    assert r.status_code == 200
    assert b"theirs" not in r.content


def test_detail_pages_of_another_team_are_404(team, other_team, browser_for):
    seed(other_team, message="theirs")
    foreign_wf = Workflow.objects.get(team=other_team)
    foreign_ex = Execution.objects.get(workflow=foreign_wf)
    c = browser_for(team, "admin")
    assert c.get(f"/workflows/{foreign_wf.pk}/").status_code == 404
    assert c.get(f"/executions/{foreign_ex.pk}/").status_code == 404
    error = WorkflowError.objects.get(workflow=foreign_wf)
    assert c.post(f"/errors/{error.pk}/resolve/").status_code == 404
    assert WorkflowError.objects.get(pk=error.pk).resolved is False


def test_workflow_page_shows_live_status_and_bottleneck(team, browser_for):
    seed(team)
    workflow = Workflow.objects.get(team=team)
    r = browser_for(team, "viewer").get(f"/workflows/{workflow.pk}/")
    html = r.content.decode()
    assert r.status_code == 200
    assert 'class="state error"' in html  # failed_nodes=1 finished the execution as error
    assert "bottleneck" in html and "Fetch" in html
    assert 'aria-valuenow="100"' in html


def test_execution_page_lists_logs_errors_performance(team, browser_for):
    seed(team)
    execution = Execution.objects.get()
    html = browser_for(team, "viewer").get(f"/executions/{execution.pk}/").content.decode()
    assert "hello failed" in html and "hello" in html and "900 ms" in html


def test_execution_page_shows_the_custom_data_n8n_saved_escaped(team, browser_for):
    seed(team)
    execution = Execution.objects.get()
    execution.metadata = {"n8n_custom_data": {"order_id": "A-17", "note": "<script>x</script>"}}
    execution.save()
    html = browser_for(team, "viewer").get(f"/executions/{execution.pk}/").content.decode()
    assert "<dt>order_id</dt><dd>A-17</dd>" in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>x</script>" not in html


def test_logs_filters(team, browser_for):
    seed(team, execution_id="e1", message="alpha")
    seed(team, execution_id="e2", message="beta")
    c = browser_for(team, "viewer")
    html = c.get("/logs/?q=alpha").content.decode()
    assert "alpha" in html and "beta" not in html
    html = c.get("/logs/?levels=error").content.decode()
    assert "No logs match" in html
    r = c.get("/logs/?start=not-a-date&workflow=999999")
    assert r.status_code == 200 and "Enter a valid date/time" in r.content.decode()


def test_viewer_sees_no_buttons_and_gets_403(team, browser_for):
    result = seed(team)
    error, alert = result.created["error"][0], result.created["alert"][0]
    c = browser_for(team, "viewer")
    assert b"Resolve</button>" not in c.get("/errors/").content
    assert b"Acknowledge</button>" not in c.get("/alerts/").content
    assert c.post(f"/errors/{error.pk}/resolve/", {"notes": "x"}).status_code == 403
    assert c.post(f"/alerts/{alert.pk}/acknowledge/").status_code == 403
    assert not WorkflowError.objects.get(pk=error.pk).resolved
    assert not Alert.objects.get(pk=alert.pk).acknowledged


def test_member_resolves_error_with_notes_and_it_is_audited(team, browser_for):
    error = seed(team).created["error"][0]
    c = browser_for(team, "member", "mia")
    assert b"Resolve</button>" in c.get("/errors/").content
    r = c.post(f"/errors/{error.pk}/resolve/", {"notes": "raised the timeout", "next": "/errors/?resolved="})
    assert r.status_code == 302 and r["Location"] == "/errors/?resolved="
    error.refresh_from_db()
    assert (error.resolved, error.resolved_by, error.resolution_notes) == (True, "mia", "raised the timeout")
    entry = LogEntry.objects.get_for_object(error).latest("timestamp")
    assert entry.actor.username == "mia" and entry.changes_dict["resolved"] == ["False", "True"]
    # Unresolved is the default filter of the list of every occurrence: it is gone from it.
    assert b"hello failed" not in c.get("/errors/all/").content


def test_member_acknowledges_and_resolves_alert_and_nav_count_follows(team, browser_for):
    alert = seed(team).created["alert"][0]
    c = browser_for(team, "member", "mia")
    assert c.get("/nav-counts/").json() == {"unacknowledged_alerts": 1}
    assert c.post(f"/alerts/{alert.pk}/acknowledge/").status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged and alert.acknowledged_by == "mia" and not alert.resolved
    assert c.get("/nav-counts/").json() == {"unacknowledged_alerts": 0}
    c.post(f"/alerts/{alert.pk}/resolve/", {"notes": "done"})
    alert.refresh_from_db()
    assert alert.resolved and alert.resolved_by == "mia" and alert.resolution_notes == "done"
    assert c.post(f"/alerts/{alert.pk}/explode/").status_code == 404


def test_redirect_after_action_stays_on_this_site(team, browser_for):
    alert = seed(team).created["alert"][0]
    r = browser_for(team, "member").post(f"/alerts/{alert.pk}/acknowledge/", {"next": "https://evil.example/"})
    assert r["Location"] == "/alerts/"


def test_overview_counts(team, browser_for):
    seed(team)
    r = browser_for(team, "viewer").get("/?partial=cards")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'data-stat="executions">1<' in html
    assert "<svg" in html
