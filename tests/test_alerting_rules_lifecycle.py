"""Every rule kind goes through the same life: its condition holds and the alert fires; it clears
and the alert resolves by itself; with auto_resolve off the alert stays open, and the condition
coming back counts a repeat on that one alert instead of opening a second."""

from datetime import timedelta

import pytest

from monitoring import services
from monitoring.models import Execution
from tests.alerting_rules_world import alerts_of, open_alert, world  # noqa: F401


class Scenario:
    """How to make one kind's condition hold and clear for a workflow, through monitoring's paths."""

    params = {}
    window = False  # window kinds need a pass to see the data

    def hold(self, world, wf, n):
        raise NotImplementedError

    def clear(self, world, wf, n):
        raise NotImplementedError


class ExecutionFailed(Scenario):
    kind = "execution_failed"

    def hold(self, world, wf, n):
        world.run(wf, f"bad-{n}", "error")

    def clear(self, world, wf, n):
        world.run(wf, f"good-{n}", "success")


class ErrorSeverity(Scenario):
    kind, params = "error_severity", {"min_severity": "high"}

    def hold(self, world, wf, n):
        world.record(wf, "error", execution_id=f"bad-{n}", error_type="data", error_message="bad row", severity="high")

    def clear(self, world, wf, n):
        world.run(wf, f"good-{n}", "success")


class Resource(Scenario):
    kind, params = "resource", {"field": "memory_peak", "threshold": 1_000_000}

    def hold(self, world, wf, n):
        world.record(wf, "performance", execution_id=f"big-{n}", total_duration=100, memory_peak=5_000_000)

    def clear(self, world, wf, n):
        world.record(wf, "performance", execution_id=f"small-{n}", total_duration=100, memory_peak=10_000)


class SlowSingle(Scenario):
    kind, params = "slow", {"duration_ms": 1_000}

    def hold(self, world, wf, n):
        world.run(wf, f"slow-{n}", "success", duration_ms=5_000)

    def clear(self, world, wf, n):
        world.run(wf, f"fast-{n}", "success", duration_ms=10)


class Deactivated(Scenario):
    kind = "deactivated"

    def hold(self, world, wf, n):
        world.set_active(wf, False)

    def clear(self, world, wf, n):
        world.set_active(wf, True)


class ErrorRate(Scenario):
    kind, params, window = "error_rate", {"threshold_percent": 50, "window_minutes": 10, "min_executions": 1}, True

    def hold(self, world, wf, n):
        world.run(wf, f"bad-{n}", "error")

    def clear(self, world, wf, n):
        world.later(minutes=11)  # the failure leaves the window


class SlowP95(Scenario):
    kind, window = "slow", True
    params = {"mode": "p95", "duration_ms": 1_000, "window_minutes": 10, "min_executions": 1}

    def hold(self, world, wf, n):
        world.run(wf, f"slow-{n}", "success", duration_ms=5_000)

    def clear(self, world, wf, n):
        world.later(minutes=11)


class Stuck(Scenario):
    kind, params, window = "stuck", {"after_minutes": 30}, True

    def hold(self, world, wf, n):
        old = world.now - timedelta(minutes=45)
        Execution.objects.create(workflow=wf, external_id=f"hung-{n}", state="running", started_at=old,
                                 last_activity_at=old)

    def clear(self, world, wf, n):
        with world.committed():
            services.update_execution(Execution.objects.get(workflow=wf, external_id=f"hung-{n}"), {"state": "crashed"})


class NoExecutions(Scenario):
    kind, params, window = "no_executions", {"every_minutes": 30, "grace_minutes": 0}, True

    def hold(self, world, wf, n):
        world.later(minutes=31)

    def clear(self, world, wf, n):
        world.run(wf, f"run-{n}", "success")


SCENARIOS = [ExecutionFailed(), ErrorSeverity(), Resource(), SlowSingle(), Deactivated(), ErrorRate(), SlowP95(),
             Stuck(), NoExecutions()]


def step(world, scenario, action, wf, n):
    world.later(minutes=1)
    action(world, wf, n)
    if scenario.window:
        world.window_pass()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: f"{s.kind}-{'window' if s.window else 'event'}")
def test_fires_and_resolves_by_itself(world, scenario):
    wf = world.workflow("wf")
    rule = world.rule(scenario.kind, dict(scenario.params))
    step(world, scenario, scenario.hold, wf, 1)
    alert = open_alert(rule, wf)
    assert alert is not None and alert.source == "rule" and alert.labels["kind"] == scenario.kind
    step(world, scenario, scenario.clear, wf, 1)
    alert.refresh_from_db()
    assert alert.resolved and alert.resolved_by == "Flowtower (rule condition cleared)"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: f"{s.kind}-{'window' if s.window else 'event'}")
def test_without_auto_resolve_it_stays_open_and_counts_the_return(world, scenario):
    wf = world.workflow("wf")
    rule = world.rule(scenario.kind, dict(scenario.params), auto_resolve=False)
    step(world, scenario, scenario.hold, wf, 1)
    step(world, scenario, scenario.clear, wf, 1)
    assert open_alert(rule, wf) is not None
    step(world, scenario, scenario.hold, wf, 2)
    [alert] = alerts_of(rule)
    assert not alert.resolved and alert.occurrences == 2 and alert.last_seen_at == world.now
