"""Event rules (execution failed, error severity, resource, one slow run, deactivated) react to what
monitoring commits: they fire, count repeats into one open alert, resolve by themselves when the
workflow recovers (unless auto_resolve is off), wait out a "for" duration, stay silent when
disabled, and cover all workflows, one workflow or a tag. One Celery task per commit."""

from datetime import timedelta

from celery.signals import task_prerun

from alerts.models import AlertRule, RuleState
from monitoring import services
from monitoring.models import AlertSource
from tests.alerting_rules_world import alerts_of, open_alert, world  # noqa: F401

URL = "/api/workflows/monitoring"


# --- execution failed ----------------------------------------------------------------------------
def test_failed_execution_raises_one_alert_that_counts_repeats(world):
    wf = world.workflow("billing")
    rule = world.rule("execution_failed", severity="critical")
    world.run(wf, "e1", "error")
    alert = open_alert(rule, wf)
    assert alert is not None
    assert (alert.source, alert.severity, alert.alert_type, alert.occurrences) == (AlertSource.RULE, "critical", "error", 1)
    assert alert.labels == {"rule": str(rule.pk), "rule_name": rule.name, "kind": "execution_failed"}
    assert alert.execution.external_id == "e1" and alert.workflow == wf and alert.team == world.team

    world.later(minutes=1)
    world.run(wf, "e2", "error")
    alert.refresh_from_db()
    assert alert.occurrences == 2 and alert.execution.external_id == "e2"
    assert alert.last_seen_at == world.now
    # The same failed execution reported again is no new occurrence.
    world.run(wf, "e2", "error")
    alert.refresh_from_db()
    assert alert.occurrences == 2
    assert len(alerts_of(rule)) == 1


def test_crashed_execution_fires_too(world):
    wf = world.workflow("sync")
    rule = world.rule("execution_failed")
    world.run(wf, "e1", "crashed")
    alert = open_alert(rule, wf)
    assert alert is not None and "crashed" in alert.title


def test_later_success_resolves_but_an_older_one_does_not(world):
    wf = world.workflow("billing")
    rule = world.rule("execution_failed")
    world.run(wf, "fail", "error")
    # A success that stopped before the failure arrives late: the workflow has not recovered.
    world.run(wf, "old", "success", started=world.now - timedelta(minutes=5),
              stopped=world.now - timedelta(minutes=4))
    assert open_alert(rule, wf) is not None
    world.later(minutes=3)
    world.run(wf, "ok", "success")
    [alert] = alerts_of(rule)
    assert alert.resolved and alert.resolved_by == "Flowtower (rule condition cleared)"
    assert alert.resolved_at == world.now
    assert not RuleState.objects.filter(rule=rule).exists()
    # A new failure after the recovery is a new alert.
    world.later(minutes=1)
    world.run(wf, "fail-2", "error")
    assert len(alerts_of(rule)) == 2 and open_alert(rule, wf).occurrences == 1


def test_without_auto_resolve_the_alert_stays_open_and_counts_the_next_failure(world):
    wf = world.workflow("billing")
    rule = world.rule("execution_failed", auto_resolve=False)
    world.run(wf, "e1", "error")
    world.later(minutes=1)
    world.run(wf, "e2", "success")
    assert open_alert(rule, wf) is not None
    world.later(minutes=1)
    world.run(wf, "e3", "error")
    assert open_alert(rule, wf).occurrences == 2 and len(alerts_of(rule)) == 1


def test_for_duration_keeps_it_pending_until_a_pass_finds_no_recovery(world):
    wf, quick = world.workflow("billing"), world.workflow("quick")
    rule = world.rule("execution_failed", for_seconds=600)
    world.run(wf, "e1", "error")
    world.run(quick, "q1", "error")
    assert alerts_of(rule) == []
    assert RuleState.objects.get(rule=rule, workflow=wf).firing is False
    world.later(minutes=5)
    world.run(quick, "q2", "success")  # recovered within the "for" duration: never fires
    world.window_pass()
    assert alerts_of(rule) == []
    world.later(minutes=5)
    summary = world.window_pass()
    assert summary["promoted"] == 1
    alert = open_alert(rule, wf)
    assert alert is not None and open_alert(rule, quick) is None
    world.later(minutes=1)
    world.run(wf, "e2", "success")
    alert.refresh_from_db()
    assert alert.resolved


def test_disabled_rule_is_silent(world):
    wf = world.workflow("billing")
    rule = world.rule("execution_failed", enabled=False)
    world.run(wf, "e1", "error")
    assert alerts_of(rule) == [] and not RuleState.objects.filter(rule=rule).exists()


def test_disabling_or_deleting_a_rule_resolves_its_open_alerts(world):
    wf = world.workflow("billing")
    kept, deleted = world.rule("execution_failed", name="a"), world.rule("execution_failed", name="b")
    world.run(wf, "e1", "error")
    world.disable(kept)
    [alert] = alerts_of(kept)
    assert alert.resolved and alert.resolved_by == "Flowtower (rule disabled)"
    assert not RuleState.objects.filter(rule=kept).exists()
    [alert] = alerts_of(deleted)
    with world.committed():
        deleted.delete()
    alert.refresh_from_db()
    assert alert.resolved and alert.resolved_by == "Flowtower (rule deleted)"


def test_scope_all_one_workflow_or_a_tag(world, other_team):
    tagged, plain = world.workflow("tagged", tags=["payments"]), world.workflow("plain")
    foreign = world.workflow("tagged", tags=["payments"], team=other_team)
    everyone = world.rule("execution_failed", name="all")
    one = world.rule("execution_failed", name="one", workflow=plain)
    by_tag = world.rule("execution_failed", name="tag", tag="payments")
    for wf in (tagged, plain, foreign):
        world.run(wf, "e1", "error")
    assert {a.workflow for a in alerts_of(everyone)} == {tagged, plain}
    assert {a.workflow for a in alerts_of(one)} == {plain}
    assert {a.workflow for a in alerts_of(by_tag)} == {tagged}


# --- error severity ----------------------------------------------------------------------------
def test_error_at_or_above_the_severity_fires_and_success_resolves(world):
    wf = world.workflow("crm")
    rule = world.rule("error_severity", {"min_severity": "high"})
    world.record(wf, "error", execution_id="e1", error_type="network", error_message="timeout", severity="medium")
    assert alerts_of(rule) == []
    world.record(wf, "error", execution_id="e2", error_type="network", error_message="DNS failure",
                 severity="high", node_name="HTTP Request")
    alert = open_alert(rule, wf)
    assert alert.alert_type == "error" and "DNS failure" in alert.description and alert.execution.external_id == "e2"
    world.later(minutes=1)
    world.record(wf, "error", execution_id="e3", error_type="system", error_message="disk", severity="critical")
    alert.refresh_from_db()
    assert alert.occurrences == 2 and alert.title.startswith("Critical error")
    world.later(minutes=1)
    world.run(wf, "e4", "success")
    alert.refresh_from_db()
    assert alert.resolved


# --- resource ----------------------------------------------------------------------------------
def test_resource_above_threshold_fires_repeats_and_resolves(world):
    wf = world.workflow("etl")
    rule = world.rule("resource", {"field": "cpu_peak", "threshold": 80}, severity="info")
    world.record(wf, "performance", execution_id="e1", total_duration=1000, cpu_peak=95.5)
    alert = open_alert(rule, wf)
    assert alert.alert_type == "resource" and alert.severity == "info" and "95.5" in alert.title
    assert alert.metadata == {"value": 95.5}
    world.later(minutes=1)
    world.record(wf, "performance", execution_id="e2", total_duration=1000, cpu_peak=90)
    alert.refresh_from_db()
    assert alert.occurrences == 2
    world.later(minutes=1)
    world.record(wf, "performance", execution_id="e3", total_duration=1000, cpu_peak=40)
    alert.refresh_from_db()
    assert alert.resolved


# --- slow (one run) ----------------------------------------------------------------------------
def test_one_slow_execution_fires_and_a_fast_one_resolves(world):
    wf = world.workflow("report")
    rule = world.rule("slow", {"duration_ms": 60_000})
    world.run(wf, "fast", "success", duration_ms=2_000)
    assert alerts_of(rule) == []
    world.later(minutes=2)
    world.run(wf, "slow", "success", duration_ms=95_000)
    alert = open_alert(rule, wf)
    assert alert.alert_type == "performance" and "95,000 ms" in alert.title
    world.later(minutes=2)
    world.run(wf, "fast-2", "success", duration_ms=1_000)
    alert.refresh_from_db()
    assert alert.resolved


# --- deactivated -------------------------------------------------------------------------------
def test_deactivated_workflow_fires_once_and_resolves_when_active_again(world):
    wf = world.workflow("cron")
    rule = world.rule("deactivated")
    world.set_active(wf, False)
    alert = open_alert(rule, wf)
    assert alert.alert_type == "dependency" and "deactivated" in alert.title.lower()
    with world.committed():
        wf = services.update_workflow(wf, {"tags": ["x"]})
    alert.refresh_from_db()
    assert alert.occurrences == 1  # still the same deactivation
    world.later(minutes=5)
    world.set_active(wf, True)
    alert.refresh_from_db()
    assert alert.resolved


# --- one task per commit -----------------------------------------------------------------------
def test_a_batch_of_50_records_sends_one_evaluation_task(world, api):
    wfs = [world.workflow(f"wf-{i}") for i in range(5)]
    rule = world.rule("error_severity", {"min_severity": "low"})
    started = []

    def count(sender=None, **kwargs):
        if sender.name == "alerts.tasks.evaluate_events":
            started.append(kwargs["args"])

    task_prerun.connect(count, weak=False)
    try:
        errors = [{"workflow_id": f"wf-{i % 5}", "execution_id": f"e-{i}", "error_message": f"boom {i}",
                   "severity": "high"} for i in range(50)]
        with world.committed():
            response = api.post(f"{URL}?type=batch", {"errors": errors}, format="json")
        assert response.status_code in (200, 201), response.content
    finally:
        task_prerun.disconnect(count)
    assert len(started) == 1
    # Small payload: event types and ids, not the records.
    assert all(len(item) == 2 for item in started[0][0])
    assert {a.workflow for a in alerts_of(rule)} == set(wfs)
    assert sorted(a.occurrences for a in alerts_of(rule)) == [10] * 5


def test_an_event_rule_stored_with_invalid_params_is_skipped_not_fatal_to_the_others(world):
    wf = world.workflow("etl")
    broken = AlertRule.objects.create(team=world.team, name="broken", kind="resource", params={"field": "disk"})
    rule = world.rule("resource", {"field": "memory_peak", "threshold": 1000})
    world.record(wf, "performance", execution_id="e1", total_duration=10, memory_peak=5000)
    assert open_alert(rule, wf) is not None and alerts_of(broken) == []


def test_narrowing_a_rule_resolves_the_alerts_of_the_workflows_it_no_longer_covers(world):
    kept, dropped = world.workflow("kept", tags=["payments"]), world.workflow("dropped")
    rule = world.rule("execution_failed")
    world.run(kept, "e1", "error")
    world.run(dropped, "e1", "error")
    rule.tag = "payments"
    with world.committed():
        rule.save()
    assert open_alert(rule, kept) is not None and open_alert(rule, dropped) is None
    [resolved] = alerts_of(rule, resolved=True)
    assert resolved.workflow == dropped and resolved.resolved_by == "Flowtower (rule no longer covers the workflow)"
    assert list(RuleState.objects.filter(rule=rule).values_list("workflow", flat=True)) == [kept.pk]
