"""README, "Live status and dashboard": the dashboard's counts and its system_health rules, at their
boundaries.

system_health is
- critical: an unresolved critical alert, an unresolved critical error in the period, or >= 20 %
  of at least 5 finished executions failed;
- degraded: an unresolved warning alert, an unresolved high error in the period, or >= 5 % of at
  least 5 finished executions failed;
- healthy: otherwise.
failed_executions counts error *and* crashed; unresolved_alerts counts every open alert, however
old. Finished states are success, error, canceled and crashed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring.access import Principal
from monitoring.models import Alert, Execution, ServiceToken, Workflow, WorkflowError
from monitoring.queries import dashboard, period_bounds, system_health

NO_ALERTS = {"critical": 0, "warning": 0}
NO_ERRORS = {"critical": 0, "high": 0}


@pytest.mark.parametrize("finished, failed, health", [
    (4, 4, "healthy"),      # fewer than 5 finished executions: no rate at all
    (5, 0, "healthy"),
    (5, 1, "critical"),     # exactly 20 %
    (6, 1, "degraded"),     # 16.7 %
    (100, 20, "critical"),  # exactly 20 %
    (100, 19, "degraded"),  # just under 20 %
    (20, 1, "degraded"),    # exactly 5 %
    (21, 1, "healthy"),     # 4.8 %, just under 5 %
    (100, 5, "degraded"),
    (100, 4, "healthy"),
])
def test_failure_rate_thresholds(finished, failed, health):
    assert system_health(finished, failed, NO_ALERTS, NO_ERRORS) == health


@pytest.mark.parametrize("alerts, errors, health", [
    ({"critical": 1, "warning": 0}, NO_ERRORS, "critical"),
    ({"critical": 0, "warning": 1}, NO_ERRORS, "degraded"),
    (NO_ALERTS, {"critical": 1, "high": 0}, "critical"),
    (NO_ALERTS, {"critical": 0, "high": 1}, "degraded"),
    ({"critical": 0, "warning": 1}, {"critical": 1, "high": 0}, "critical"),  # the worse rule wins
    ({"critical": 1, "warning": 0}, {"critical": 0, "high": 1}, "critical"),
])
def test_alert_and_error_conditions(alerts, errors, health):
    # A perfect run record does not hide an open problem.
    assert system_health(100, 0, alerts, errors) == health


# --- the same rules through dashboard(), from stored records --------------------------------------------


@pytest.fixture
def workflow(team):
    return Workflow.objects.create(team=team, external_id="wf-1")


@pytest.fixture
def summary(team):
    principal = Principal(token=ServiceToken.issue(team, "reader")[0])

    def get():
        start, end = period_bounds("24h")
        return dashboard(principal, start=start, end=end)

    return get


def executions(workflow, *states, hours_ago=1):
    """One execution per state, started within the default 24 h period (unless told otherwise)."""
    start = timezone.now() - timedelta(hours=hours_ago)
    Execution.objects.bulk_create(
        Execution(workflow=workflow, external_id=f"{state}-{n}-{hours_ago}", state=state, started_at=start,
                  duration_ms=1000)
        for n, state in enumerate(states)
    )


def alert(workflow, severity, days_ago=0, **fields):
    return Alert.objects.create(team=workflow.team, workflow=workflow, alert_type="error", severity=severity, title="t",
                                timestamp=timezone.now() - timedelta(days=days_ago, minutes=1), **fields)


def error(workflow, severity, hours_ago=1, **fields):
    execution = Execution.objects.create(workflow=workflow, external_id="still-running")  # not finished
    return WorkflowError.objects.create(workflow=workflow, execution=execution, error_type="network", error_message="boom",
                                        severity=severity, timestamp=timezone.now() - timedelta(hours=hours_ago),
                                        **fields)


def test_crashed_counts_as_failed(workflow, summary):
    executions(workflow, "success", "success", "error", "crashed")
    data = summary()
    assert data["total_executions"] == 4
    assert data["successful_executions"] == 2 and data["failed_executions"] == 2
    assert data["success_rate"] == 50.0


def test_crashed_runs_make_health_critical(workflow, summary):
    executions(workflow, "success", "success", "success", "success", "crashed")
    assert summary()["system_health"] == "critical"  # 1 of 5 finished = 20 %


def test_four_finished_executions_give_no_failure_rate(workflow, summary):
    executions(workflow, "error", "error", "error", "error", "running", "queued")
    data = summary()
    assert data["failed_executions"] == 4
    assert data["system_health"] == "healthy"  # running and queued ones are not finished


def test_canceled_executions_are_finished(workflow, summary):
    # 4 failures of 20 finished runs (16 canceled by hand) is 20 %, not "too few runs to tell".
    executions(workflow, *["canceled"] * 16, "error", "error", "crashed", "crashed")
    assert summary()["system_health"] == "critical"


def test_one_failure_in_twenty_is_degraded_and_in_twenty_one_healthy(workflow, summary):
    executions(workflow, *["success"] * 19, "error")
    assert summary()["system_health"] == "degraded"
    executions(workflow, "success", hours_ago=2)
    assert summary()["system_health"] == "healthy"


def test_executions_outside_the_period_do_not_count(workflow, summary):
    executions(workflow, "error", "error", "error", "error", "error", hours_ago=25)
    data = summary()
    assert data["total_executions"] == 0 and data["system_health"] == "healthy"


def test_unresolved_alerts_counts_open_alerts_however_old(workflow, summary):
    alert(workflow, "info", days_ago=400)
    alert(workflow, "info", days_ago=3, acknowledged=True)  # acknowledged is not resolved
    alert(workflow, "info")
    alert(workflow, "info", days_ago=400, resolved=True)
    alert(workflow, "info", resolved=True)
    data = summary()
    assert data["unresolved_alerts"] == 3
    assert data["total_alerts"] == 2  # total_alerts is within the period


@pytest.mark.parametrize("severity, fields, health", [
    ("critical", {}, "critical"),
    ("critical", {"acknowledged": True}, "critical"),  # acknowledged but still open
    ("critical", {"resolved": True}, "healthy"),
    ("warning", {}, "degraded"),
    ("warning", {"resolved": True}, "healthy"),
    ("info", {}, "healthy"),
])
def test_open_alerts_of_any_age_set_health(workflow, summary, severity, fields, health):
    alert(workflow, severity, days_ago=30, **fields)
    assert summary()["system_health"] == health


@pytest.mark.parametrize("severity, fields, hours_ago, health", [
    ("critical", {}, 1, "critical"),
    ("critical", {"resolved": True}, 1, "healthy"),
    ("critical", {}, 25, "healthy"),  # an error before the period does not count
    ("high", {}, 1, "degraded"),
    ("high", {"resolved": True}, 1, "healthy"),
    ("high", {}, 25, "healthy"),
    ("medium", {}, 1, "healthy"),
])
def test_unresolved_errors_in_the_period_set_health(workflow, summary, severity, fields, hours_ago, health):
    error(workflow, severity, hours_ago=hours_ago, **fields)
    assert summary()["system_health"] == health
