"""The demo's alerting (`manage.py demo_alerting`, run by `make run`): set up once however often
it runs, and a failing demo workflow raises an alert, told to the demo's log channel, that
resolves when the workflow's next execution succeeds."""

import dataclasses
import random
from datetime import timedelta

from django.core.cache import cache

from django.core.management import call_command
from django.utils import timezone

from alerts.evaluation_windows import evaluate_window_rules
from alerts.models import AlertRule, Channel, Route
from monitoring import demo
from monitoring.models import Alert, Team, Workflow


class Outcome(random.Random):
    """The demo's own record generator, with the failure decided by the test."""

    def __init__(self, fails):
        super().__init__(1)
        self.fails = fails

    def random(self):
        return 0.0 if self.fails else 0.999


def run(team, workflow, fails, minutes_ago, capture):
    start = timezone.now() - timedelta(minutes=minutes_ago)
    records = demo._execution_records(workflow, f"demo-{minutes_ago}", start, Outcome(fails))
    with capture(execute=True):
        demo._ingest_raw(team, records)


def test_demo_alerting_is_set_up_once_and_a_failing_workflow_alerts_until_it_recovers(
        db, django_capture_on_commit_callbacks, caplog):
    team = Team.objects.create(slug=demo.DEMO_TEAM, name="Demo team")
    Workflow.objects.create(team=team, external_id="wf-003", name="Invoice fetch")
    call_command("demo_alerting")
    call_command("demo_alerting")
    assert Channel.objects.filter(team=team, kind="log").count() == 1
    assert Route.objects.filter(team=team).count() == 1
    assert sorted(AlertRule.objects.filter(team=team).values_list("kind", flat=True)) == [
        "anomaly", "error_rate", "execution_failed", "no_executions", "regression", "stuck"]  # regression: every team's

    customer_import = next(w for w in demo.WORKFLOWS if w.external_id == "wf-002")
    caplog.set_level("WARNING", logger="alerts.notifications")
    run(team, customer_import, fails=True, minutes_ago=5, capture=django_capture_on_commit_callbacks)
    alert = Alert.objects.get(team=team, source="rule")
    assert alert.status == "firing" and alert.workflow.external_id == "wf-002"
    run(team, customer_import, fails=False, minutes_ago=2, capture=django_capture_on_commit_callbacks)
    alert.refresh_from_db()
    assert alert.status == "resolved"
    assert list(alert.deliveries.order_by("created_at").values_list("event", "status")) == [
        ("firing", "sent"), ("resolved", "sent")]
    told = [r.getMessage() for r in caplog.records if r.name == "alerts.notifications"]
    assert len(told) == 2 and "[RESOLVED]" in told[1]


def test_the_demo_invoice_fetch_slowing_down_raises_an_explained_anomaly_alert(db, django_capture_on_commit_callbacks):
    """`make run`: the live Invoice fetch waits seconds longer in "Get invoices" than in its two
    weeks of history; the anomaly rule says so, with what is usual at this hour."""
    cache.clear()  # baselines are cached per team and hour
    team, _, _ = demo.ensure_demo_accounts()
    demo.backfill(team)
    call_command("demo_alerting")
    invoice_fetch = next(w for w in demo.WORKFLOWS if w.external_id == "wf-003")
    evaluate_window_rules()  # the usual runs alone raise nothing
    assert not Alert.objects.filter(team=team, title__contains="Invoice fetch", alert_type="performance").exists()
    slowed = dataclasses.replace(invoice_fetch, nodes=tuple(
        (node, ms + 1000 * invoice_fetch.live_slowdown[1] if node == invoice_fetch.live_slowdown[0] else ms)
        for node, ms in invoice_fetch.nodes))
    for minutes_ago in (9, 6, 3):
        run(team, slowed, fails=False, minutes_ago=minutes_ago, capture=django_capture_on_commit_callbacks)
    evaluate_window_rules()
    alert = Alert.objects.get(team=team, workflow__external_id="wf-003", alert_type="performance", resolved=False)
    assert "usually" in alert.description and "at this hour" in alert.description
