"""Window rules (error rate, p95 duration, stuck, no executions) are evaluated by a pass every
minute (beat) or by `manage.py evaluate_alerts`: they fire, are repeated into one open alert while
the condition holds, resolve by themselves when it clears (unless auto_resolve is off), wait out
a "for" duration, stay silent when disabled, and cover all workflows, one workflow or a tag."""

from datetime import timedelta
from io import StringIO

from django.core.cache import cache
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from alerts.evaluation_windows import evaluate_window_rules
from alerts.models import AlertRule, RuleState
from monitoring.models import Execution
from tests.alerting_rules_world import alerts_of, open_alert, world  # noqa: F401


def runs(world, wf, states, *, minutes_ago=10, duration_ms=1000, prefix="e"):
    """Finished executions that started `minutes_ago` minutes ago, one per state given."""
    for i, state in enumerate(states):
        started = world.now - timedelta(minutes=minutes_ago, seconds=i)
        Execution.objects.create(workflow=wf, external_id=f"{prefix}{i}", state=state, started_at=started,
                                 stopped_at=started + timedelta(milliseconds=duration_ms), duration_ms=duration_ms)


# --- error rate ----------------------------------------------------------------------------------
def test_error_rate_fires_stays_one_alert_while_it_holds_and_resolves_when_the_window_moves_on(world):
    wf = world.workflow("billing")
    rule = world.rule("error_rate", {"threshold_percent": 50, "window_minutes": 60, "min_executions": 5})
    runs(world, wf, ["error", "crashed", "error", "success", "success", "canceled"])  # 3 of 5 finished failed
    world.window_pass()
    alert = open_alert(rule, wf)
    assert alert.alert_type == "error" and alert.title == "Error rate 60% on BILLING"
    assert "3 of 5 executions" in alert.description and alert.metadata == {"value": 60.0}
    world.later(minutes=1)
    summary = world.window_pass()
    # Still holding: the open alert stands as it is, and the pass writes nothing for it.
    assert (summary["holding"], summary["raised"], summary["repeated"]) == (1, 0, 0)
    alert.refresh_from_db()
    assert alert.occurrences == 1 and len(alerts_of(rule)) == 1
    world.later(minutes=60)  # the failures left the window
    runs(world, wf, ["success"] * 5, prefix="ok")
    assert world.window_pass()["resolved"] == 1
    alert.refresh_from_db()
    assert alert.resolved and alert.resolved_by == "Flowtower (rule condition cleared)"
    assert not RuleState.objects.filter(rule=rule).exists()


def test_error_rate_needs_the_minimum_number_of_executions(world):
    wf = world.workflow("billing")
    rule = world.rule("error_rate", {"threshold_percent": 10, "min_executions": 5})
    runs(world, wf, ["error"] * 4)
    world.window_pass()
    assert alerts_of(rule) == []


def test_without_auto_resolve_the_alert_stays_open_and_a_return_counts_a_repeat(world):
    wf = world.workflow("billing")
    rule = world.rule("error_rate", {"threshold_percent": 10, "min_executions": 1}, auto_resolve=False)
    runs(world, wf, ["error"])
    world.window_pass()
    world.later(minutes=61)
    summary = world.window_pass()
    assert summary["resolved"] == 0 and open_alert(rule, wf) is not None
    assert not RuleState.objects.filter(rule=rule).exists()
    runs(world, wf, ["crashed"], prefix="again")
    assert world.window_pass()["repeated"] == 1
    alert = open_alert(rule, wf)
    assert alert.occurrences == 2 and alert.last_seen_at == world.now and len(alerts_of(rule)) == 1


def test_for_duration_keeps_a_window_condition_pending(world):
    wf = world.workflow("billing")
    rule = world.rule("error_rate", {"threshold_percent": 10, "min_executions": 1}, for_seconds=120)
    runs(world, wf, ["error"])
    assert world.window_pass()["pending"] == 1 and alerts_of(rule) == []
    world.later(minutes=1)
    world.window_pass()
    assert alerts_of(rule) == []
    world.later(minutes=1)
    assert world.window_pass()["raised"] == 1
    assert open_alert(rule, wf).timestamp == world.now


def test_disabled_window_rule_is_silent(world):
    wf = world.workflow("billing")
    rule = world.rule("error_rate", {"threshold_percent": 10, "min_executions": 1}, enabled=False)
    runs(world, wf, ["error"])
    assert world.window_pass()["rules"] == 0 and alerts_of(rule) == []


def test_window_scope_all_one_workflow_or_a_tag(world, other_team):
    tagged, plain = world.workflow("tagged", tags=["nightly"]), world.workflow("plain")
    foreign = world.workflow("foreign", tags=["nightly"], team=other_team)
    params = {"threshold_percent": 10, "min_executions": 1}
    everyone = world.rule("error_rate", params, name="all")
    one = world.rule("error_rate", params, name="one", workflow=plain)
    by_tag = world.rule("error_rate", params, name="tag", tag="nightly")
    for wf in (tagged, plain, foreign):
        runs(world, wf, ["error"])
    world.window_pass()
    assert {a.workflow for a in alerts_of(everyone)} == {tagged, plain}
    assert {a.workflow for a in alerts_of(one)} == {plain}
    assert {a.workflow for a in alerts_of(by_tag)} == {tagged}


# --- slow: p95 -----------------------------------------------------------------------------------
def test_p95_duration_above_the_limit_fires_and_resolves(world):
    wf = world.workflow("report")
    rule = world.rule("slow", {"mode": "p95", "duration_ms": 5_000, "window_minutes": 30, "min_executions": 3})
    runs(world, wf, ["success"] * 18, duration_ms=1_000)
    runs(world, wf, ["success"] * 2, duration_ms=60_000, prefix="slow")
    world.window_pass()
    alert = open_alert(rule, wf)
    # 20 runs, two of 60 s: the interpolated 95th percentile is 60,000 ms.
    assert alert.alert_type == "performance" and "p95 60,000 ms" in alert.title and "over 20 executions" in alert.description
    world.later(minutes=31)
    runs(world, wf, ["success"] * 5, duration_ms=900, prefix="fast")
    world.window_pass()
    alert.refresh_from_db()
    assert alert.resolved


# --- stuck ---------------------------------------------------------------------------------------
def test_stuck_running_execution_fires_links_it_and_resolves_when_it_ends(world):
    wf = world.workflow("sync")
    rule = world.rule("stuck", {"after_minutes": 30})
    old = world.now - timedelta(minutes=45)
    stuck = Execution.objects.create(workflow=wf, external_id="hung", state="running", started_at=old,
                                     last_activity_at=old)
    Execution.objects.create(workflow=wf, external_id="busy", state="running", started_at=old,
                             last_activity_at=world.now - timedelta(minutes=1))  # long, but alive
    Execution.objects.create(workflow=wf, external_id="paused", state="waiting", started_at=old, last_activity_at=old)
    world.window_pass()
    alert = open_alert(rule, wf)
    assert alert.alert_type == "timeout" and alert.execution == stuck and alert.title.startswith("Stuck: 1 execution")
    world.later(minutes=1)
    world.run(wf, "hung", "crashed")
    world.window_pass()
    alert.refresh_from_db()
    assert alert.resolved


def test_stuck_counts_waiting_executions_only_when_asked(world):
    wf = world.workflow("approval")
    plain = world.rule("stuck", {"after_minutes": 30}, name="running only")
    waiting = world.rule("stuck", {"after_minutes": 30, "include_waiting": True}, name="waiting too")
    old = world.now - timedelta(hours=2)
    Execution.objects.create(workflow=wf, external_id="w", state="waiting", started_at=old, last_activity_at=old)
    world.window_pass()
    assert alerts_of(plain) == [] and open_alert(waiting, wf) is not None


# --- no executions (dead-man switch) -------------------------------------------------------------
def test_no_executions_fires_after_period_and_grace_and_resolves_on_the_next_run(world):
    wf = world.workflow("hourly")
    world.later(hours=1)
    rule = world.rule("no_executions", {"every_minutes": 60, "grace_minutes": 10})
    world.run(wf, "e1", "success")
    world.later(minutes=69)
    world.window_pass()
    assert alerts_of(rule) == []
    world.later(minutes=2)
    world.window_pass()
    alert = open_alert(rule, wf)
    assert alert.alert_type == "timeout" and "no execution in the last 70 min" in alert.description
    world.later(minutes=1)
    world.run(wf, "e2", "running")
    world.window_pass()
    alert.refresh_from_db()
    assert alert.resolved


def test_no_executions_counts_a_never_run_workflow_from_the_rule_creation(world):
    old = world.workflow("old-idle")
    world.later(days=3)
    rule = world.rule("no_executions", {"every_minutes": 30, "grace_minutes": 0})
    inactive = world.workflow("paused", active=False)
    world.later(minutes=29)
    world.window_pass()
    assert alerts_of(rule) == []  # the rule is new: the idle workflow gets a full period
    world.later(minutes=2)
    world.window_pass()
    assert {a.workflow for a in alerts_of(rule)} == {old}  # an inactive workflow is not expected to run
    assert inactive.pk not in {s.workflow_id for s in RuleState.objects.filter(rule=rule)}


# --- the pass itself -----------------------------------------------------------------------------
def test_evaluate_alerts_command_runs_one_pass_and_prints_a_summary(world):
    wf = world.workflow("billing")
    rule = world.rule("error_rate", {"threshold_percent": 10, "min_executions": 1})
    runs(world, wf, ["error"])
    out = StringIO()
    with world.committed():
        call_command("evaluate_alerts", stdout=out)
    assert open_alert(rule, wf) is not None
    text = out.getvalue()
    assert text.startswith("1 window rules evaluated in ") and "1 alerts raised" in text


def test_a_second_pass_while_one_runs_is_skipped(world):
    cache.add("alerts:window-pass", "1", 60)
    assert evaluate_window_rules() == {"skipped": "another pass is running"}
    cache.delete("alerts:window-pass")
    assert "skipped" not in evaluate_window_rules()


def test_beat_runs_the_window_pass_and_the_notification_pass_every_minute(db):
    tasks = {t.task: t for t in PeriodicTask.objects.filter(task__startswith="alerts.tasks.")}
    assert set(tasks) >= {"alerts.tasks.evaluate_window_rules", "alerts.tasks.notification_pass"}
    for name in ("alerts.tasks.evaluate_window_rules", "alerts.tasks.notification_pass"):
        interval = tasks[name].interval
        assert (interval.every, interval.period, tasks[name].enabled) == (1, "minutes", True)


def test_a_rule_stored_with_invalid_params_is_skipped_not_fatal_to_the_others(world):
    wf = world.workflow("billing")
    broken = AlertRule.objects.create(team=world.team, name="broken", kind="error_rate", params={"threshold": 5})
    rule = world.rule("error_rate", {"threshold_percent": 10, "min_executions": 1})
    runs(world, wf, ["error"])
    assert world.window_pass()["rules"] == 1
    assert open_alert(rule, wf) is not None and alerts_of(broken) == []
