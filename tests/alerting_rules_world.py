"""Shared by the alert rule tests (tests/test_alerting_rules_*.py): a team's workflows, rules and
executions written through monitoring's real paths (services, ingest, the REST API), with their
events delivered after commit to the real receiver and the (eager) Celery task, on a clock the
test moves (time-machine)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from alerts.evaluation_windows import evaluate_window_rules
from alerts.models import AlertRule
from alerts.rules.registry import validate_rule
from monitoring import services
from monitoring.ingest import ingest
from monitoring.models import Alert, Workflow

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class World:
    def __init__(self, team, clock, capture):
        self.team = team
        self.clock = clock
        self._capture = capture

    @property
    def now(self):
        return datetime.now(UTC)

    def later(self, **delta):
        self.clock.shift(timedelta(**delta))

    def workflow(self, external_id, tags=(), active=True, team=None):
        return Workflow.objects.create(team=team or self.team, external_id=external_id, name=external_id.upper(),
                                       tags=list(tags), active=active)

    def rule(self, kind, params=None, team=None, **fields):
        rule = AlertRule(team=team or self.team, name=fields.pop("name", f"{kind} rule"), kind=kind,
                         params=params or {}, **fields)
        validate_rule(rule)
        rule.save()
        return rule

    def committed(self):
        """Run what the block's commits publish (monitoring events, then the alerts they raise)."""
        return self._capture(execute=True)

    def run(self, workflow, execution_id, state, *, started=None, stopped=None, duration_ms=None):
        """Report an execution as a service does (POST /api/v1/executions/ calls this)."""
        data = {"workflow_id": workflow.external_id, "execution_id": execution_id, "state": state,
                "started_at": started or self.now}
        if stopped is not None:
            data["stopped_at"] = stopped
        if duration_ms is not None:
            data["duration_ms"] = duration_ms
        with self.committed():
            execution, _ = services.create_execution(workflow.team, data)
        return execution

    def record(self, workflow, kind, **fields):
        """One validated record of `kind` (error, performance) through monitoring.ingest."""
        record = {"workflow_id": workflow.external_id, "execution_id": fields.pop("execution_id", "e-rec"),
                  "timestamp": self.now, "metadata": {}, **fields}
        with self.committed():
            return ingest(workflow.team, {kind: [record]})

    def set_active(self, workflow, active):
        with self.committed():
            return services.set_workflow_active(workflow, active)

    def window_pass(self):
        with self.committed():
            return evaluate_window_rules()

    def disable(self, rule):
        rule.enabled = False
        with self.committed():
            rule.save()


def alerts_of(rule, resolved=None):
    qs = Alert.objects.filter(fingerprint__startswith=f"rule:{rule.pk}:")
    return list(qs if resolved is None else qs.filter(resolved=resolved))


def open_alert(rule, workflow):
    """The rule's one open alert for the workflow, or None."""
    found = Alert.objects.filter(fingerprint=f"rule:{rule.pk}:wf:{workflow.pk}", resolved=False)
    assert found.count() <= 1
    return found.first()


@pytest.fixture
def world(team, django_capture_on_commit_callbacks):
    with time_machine.travel(T0, tick=False) as clock:
        yield World(team, clock, django_capture_on_commit_callbacks)
