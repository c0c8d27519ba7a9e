"""Time saved on the pages: the overview's card, the workflows page's column, and the workflow
page's figures and estimate form (members and admins set or clear it, viewers only read it, bad
values are shown at the field, another team's workflow is a 404)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django.utils import timezone

from monitoring.models import Execution, Workflow


@pytest.fixture
def browser_for(make_user):
    def make(team, role):
        client = Client()
        client.force_login(make_user(f"{role}-{team.slug}", team, role))
        return client

    return make


@pytest.fixture
def workflows(team):
    """Invoices (12.5 min a run, 60 successes and 2 errors in the last hours) and an unestimated one."""
    invoices = Workflow.objects.create(team=team, external_id="invoices", name="Invoices",
                                       minutes_saved_per_run=Decimal("12.50"))
    cleanup = Workflow.objects.create(team=team, external_id="cleanup", name="Cleanup")
    now = timezone.now()
    Execution.objects.bulk_create(
        [Execution(workflow=invoices, external_id=f"ok{i}", state="success", started_at=now - timedelta(minutes=5 + i))
         for i in range(60)]
        + [Execution(workflow=invoices, external_id=f"bad{i}", state="error", started_at=now - timedelta(minutes=3))
           for i in range(2)]
        + [Execution(workflow=cleanup, external_id="c1", state="success", started_at=now - timedelta(minutes=3))])
    return invoices, cleanup


@pytest.mark.parametrize("path", ["/", "/?partial=cards"])
def test_overview_card_shows_time_saved_and_how_many_are_estimated(team, workflows, browser_for, path):
    page = browser_for(team, "viewer").get(path).content.decode()
    card = page[page.index('id="time-saved"'):]
    card = card[:card.index("</div></div>") + 12]
    assert "Time saved (24h)" in card and "12 h 30 min" in card
    assert "1 of 2 workflows estimated" in card and "set an estimate" in card


def test_overview_card_counts_only_the_users_team(team, other_team, workflows, browser_for):
    theirs = Workflow.objects.create(team=other_team, external_id="payroll", minutes_saved_per_run=Decimal("600"))
    Execution.objects.create(workflow=theirs, external_id="p1", state="success")
    page = browser_for(team, "viewer").get("/").content.decode()
    assert "12 h 30 min" in page and "1 of 2 workflows estimated" in page


def test_workflows_page_has_a_time_saved_column(team, workflows, browser_for):
    page = browser_for(team, "viewer").get("/workflows/").content.decode()
    assert "Time saved (7 d)" in page
    row = page[page.index('data-workflow-key="acme/invoices"'):]
    assert '<td data-field="time-saved">12 h 30 min</td>' in row[:row.index("</tr>")]
    row = page[page.index('data-workflow-key="acme/cleanup"'):]
    assert "not estimated" in row[:row.index("</tr>")]


def test_workflow_page_shows_its_time_saved(team, workflows, browser_for):
    invoices, cleanup = workflows
    page = browser_for(team, "viewer").get(f"/workflows/{invoices.pk}/").content.decode()
    assert "12 h 30 min</strong> in the last 7 days (60 successful runs)" in page
    assert "at 12.5 min per successful run" in page
    assert "Not estimated" in browser_for(team, "member").get(f"/workflows/{cleanup.pk}/").content.decode()
    Workflow.objects.filter(pk=invoices.pk).update(minutes_saved_per_run=Decimal("10.00"))
    page = browser_for(team, "admin").get(f"/workflows/{invoices.pk}/").content.decode()
    assert "at 10 min per successful run" in page


def test_viewer_sees_no_form_and_cannot_post(team, workflows, browser_for):
    invoices, _ = workflows
    viewer = browser_for(team, "viewer")
    assert 'id="time-saved-form"' not in viewer.get(f"/workflows/{invoices.pk}/").content.decode()
    assert viewer.post(f"/workflows/{invoices.pk}/time-saved/", {"minutes_saved_per_run": "1"}).status_code == 403
    assert Workflow.objects.get(pk=invoices.pk).minutes_saved_per_run == Decimal("12.50")


@pytest.mark.parametrize("role", ["member", "admin"])
def test_member_sets_and_clears_the_estimate(team, workflows, browser_for, role):
    _, cleanup = workflows
    browser = browser_for(team, role)
    assert 'id="time-saved-form"' in browser.get(f"/workflows/{cleanup.pk}/").content.decode()
    r = browser.post(f"/workflows/{cleanup.pk}/time-saved/", {"minutes_saved_per_run": "7.25"})
    assert r.status_code == 302 and r["Location"] == f"/workflows/{cleanup.pk}/"
    assert Workflow.objects.get(pk=cleanup.pk).minutes_saved_per_run == Decimal("7.25")
    entry = LogEntry.objects.get_for_object(cleanup).latest("timestamp")  # audited, with who did it
    assert entry.actor.username == f"{role}-acme" and "minutes_saved_per_run" in entry.changes_dict
    assert "7 min</strong> in the last 7 days (1 successful run)" in browser.get(r["Location"]).content.decode()
    browser.post(f"/workflows/{cleanup.pk}/time-saved/", {"minutes_saved_per_run": "not a number", "clear": "1"})
    assert Workflow.objects.get(pk=cleanup.pk).minutes_saved_per_run is None
    browser.post(f"/workflows/{cleanup.pk}/time-saved/", {"minutes_saved_per_run": "3"})
    browser.post(f"/workflows/{cleanup.pk}/time-saved/", {"minutes_saved_per_run": ""})
    assert Workflow.objects.get(pk=cleanup.pk).minutes_saved_per_run is None


@pytest.mark.parametrize("value, message", [
    ("-1", "greater than or equal to 0"), ("10080.01", "less than or equal to 10080"),
    ("1.234", "no more than 2 decimal places"), ("ten", "Enter a number")])
def test_bad_estimate_is_shown_at_the_field(team, workflows, browser_for, value, message):
    invoices, _ = workflows
    r = browser_for(team, "member").post(f"/workflows/{invoices.pk}/time-saved/", {"minutes_saved_per_run": value})
    assert r.status_code == 400
    form = r.content.decode()
    form = form[form.index('id="time-saved-form"'):form.index("</form>", form.index('id="time-saved-form"'))]
    assert message in form and 'class="errorlist' in form
    assert Workflow.objects.get(pk=invoices.pk).minutes_saved_per_run == Decimal("12.50")


def test_another_teams_workflow_is_404_and_the_form_needs_csrf(team, other_team, workflows, browser_for, make_user):
    theirs = Workflow.objects.create(team=other_team, external_id="payroll")
    assert browser_for(team, "admin").post(f"/workflows/{theirs.pk}/time-saved/",
                                           {"minutes_saved_per_run": "5"}).status_code == 404
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(make_user("csrf-member", team, "member"))
    invoices, _ = workflows
    assert strict.post(f"/workflows/{invoices.pk}/time-saved/", {"minutes_saved_per_run": "5"}).status_code == 403
    assert Workflow.objects.get(pk=theirs.pk).minutes_saved_per_run is None


def test_admin_edits_the_estimate_within_its_bounds(team, workflows, make_user):
    invoices, _ = workflows
    admin = Client()
    admin.force_login(make_user("ada", team, "admin"))
    change = f"/admin/monitoring/workflow/{invoices.pk}/change/"
    form = {"team": team.pk, "source": "api", "external_id": "invoices", "name": "Invoices", "active": "on",
            "tags": "[]", "created_at_0": "2026-01-01", "created_at_1": "00:00:00"}
    assert 'name="minutes_saved_per_run"' in admin.get(change).content.decode()
    r = admin.post(change, {**form, "minutes_saved_per_run": "-3"})
    assert r.status_code == 200 and "minutes_saved_per_run" in r.context["adminform"].form.errors
    r = admin.post(change, {**form, "minutes_saved_per_run": "9.75"})
    assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
    assert Workflow.objects.get(pk=invoices.pk).minutes_saved_per_run == Decimal("9.75")
    admin.post(change, {**form, "minutes_saved_per_run": ""})
    assert Workflow.objects.get(pk=invoices.pk).minutes_saved_per_run is None
