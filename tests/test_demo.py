"""The demo writes through the same ingestion path as the API, so its data behaves like real data."""

from django.core.management import call_command

from monitoring import demo
from monitoring.models import ErrorGroup, Execution, ServiceToken, Team, Workflow, WorkflowError


def test_demo_setup_prints_working_credentials_and_backfills(db, capsys, client):
    call_command("demo", "setup")
    out = capsys.readouterr().out
    password = out.split("username: admin")[1].split("password:")[1].split()[0]
    assert client.post("/login/", {"username": "admin", "password": password}).status_code == 302
    token = out.split("service token for team 'demo':")[1].split()[0]
    assert ServiceToken.objects.get(name=demo.DEMO_TOKEN_NAME, revoked_at__isnull=True).prefix == token[:10]
    team = Team.objects.get(slug="demo")
    # A day of random workflows, and two weeks of the scheduled one (every 15 minutes).
    assert Execution.objects.filter(workflow__team=team).count() == 24 * 6 + demo.HISTORY_DAYS * 24 * 4
    # States come from the ingestion rules: every backfilled execution is finished.
    assert set(Execution.objects.values_list("state", flat=True)) <= {"success", "error"}
    assert Execution.objects.filter(state="error").exists()
    # Secrets in demo metadata are masked like any other.
    masked = [e.metadata["api_key"] for e in WorkflowError.objects.filter(workflow__team=team)]
    assert masked and set(masked) == {"********"}


def test_demo_setup_twice_rotates_credentials_without_duplicating(db, capsys):
    call_command("demo", "setup")
    call_command("demo", "setup")
    assert ServiceToken.objects.filter(name=demo.DEMO_TOKEN_NAME, revoked_at__isnull=True).count() == 1
    assert Execution.objects.count() == 24 * 6 + demo.HISTORY_DAYS * 24 * 4


def test_feed_runs_live_executions(db):
    team, _, _ = demo.ensure_demo_accounts()
    demo.feed_forever(team, pace=0, stop_after=3)
    assert Execution.objects.filter(workflow__team=team).count() == 3
    assert Execution.objects.exclude(state__in=["success", "error"]).count() == 0


def test_feed_posts_through_the_rest_api(live_server, db):
    """`make run` feeds the demo over HTTP, as a real service would."""
    team, _, token = demo.ensure_demo_accounts()
    sink = demo.HttpSink(live_server.url, token, wait_seconds=5)
    demo.feed_forever(team, pace=0, stop_after=2, sink=sink)
    executions = Execution.objects.filter(workflow__team=team)
    assert executions.count() == 2
    assert set(executions.values_list("state", flat=True)) <= {"success", "error"}


def test_demo_history_comes_triaged_and_estimated(db):
    """The Errors page opens on grouped errors, one resolved (its next failure regresses) and one
    ignored; three workflows carry a time-saved estimate."""
    team, _, _ = demo.ensure_demo_accounts()
    demo.backfill(team)
    groups = {g.workflow.external_id: g for g in ErrorGroup.objects.filter(team=team).select_related("workflow")}
    # Messages differ by their record numbers, request ids and URLs' queries; one group a workflow.
    assert set(groups) == {wf.external_id for wf in demo.WORKFLOWS}
    failed = WorkflowError.objects.filter(workflow__team=team)
    assert failed.values("error_message").distinct().count() > len(groups)
    assert sum(g.occurrences for g in groups.values()) == failed.count()
    assert groups["wf-002"].status == "resolved" and groups["wf-002"].resolved_by == "member"
    assert not failed.filter(workflow__external_id="wf-002", resolved=False).exists()
    assert groups["wf-001"].status == "ignored"
    estimates = dict(Workflow.objects.filter(team=team).values_list("external_id", "minutes_saved_per_run"))
    assert estimates == {wf.external_id: wf.minutes_saved for wf in demo.WORKFLOWS}
