"""What every rule kind provides, and what kinds hand back to the evaluation engine.

A kind (one module per kind in this package) validates its params and turns data into
Observations: "for this workflow, at this time, the condition holds (or no longer holds)". The
engine (alerts/evaluation.py) owns everything after that: the "for" duration, raising and
clearing alerts, RuleState. Event kinds observe the records one commit wrote; window kinds
observe, once a pass, aggregates over a time window."""

from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone


@dataclass
class Observation:
    workflow_id: int
    holds: bool  # True: the condition holds; False: a sign that it cleared (e.g. a successful run)
    at: datetime  # when it was seen to hold or clear (the record's time for events, the pass's for windows)
    value: float | None = None  # the measured value (percent, milliseconds, bytes…), kept in RuleState
    execution: object = None  # the execution that shows it, linked from the alert
    facts: dict = field(default_factory=dict)  # what the alert's wording needs beyond the value

    @property
    def occurrence(self):
        """What makes a repeat a new occurrence while the alert is open: another execution (a
        second failed run counts again, the same run reported twice does not). None for
        conditions without one (a deactivated workflow): reported again, it is the same."""
        return self.execution.pk if self.execution is not None else None


@dataclass
class Batch:
    """The records one commit wrote that some event kind wants, loaded fresh from the database
    (the current state wins over what the event carried)."""

    executions: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    performance: list = field(default_factory=list)
    workflows: list = field(default_factory=list)
    regressions: list = field(default_factory=list)  # occurrences (with .group) that reopened a resolved group
    settled_groups: list = field(default_factory=list)  # error groups resolved or ignored again


class RuleKind:
    """Base of every kind. Event kinds override wants() and observe(); window kinds override
    evaluate_window(); a kind may be both (slow: one run is an event, the p95 a window)."""

    kind = ""
    alert_type = ""

    def validate(self, params) -> dict:
        """Cleaned params, or ValidationError({param name: message})."""
        raise NotImplementedError

    def describe(self, rule, workflow, observation) -> tuple[str, str]:
        """(title, description) of the alert. `observation.facts` may be empty when a pending
        condition fires later from its stored value alone."""
        raise NotImplementedError

    def alert_type_for(self, rule):
        """The alert type of a rule's alerts (routes match on it): the kind's, unless its params
        decide (an anomaly of the failure rate is an error, one of the duration a performance)."""
        return self.alert_type

    def execution_for(self, rule, observation):
        """The execution the alert links to, looked up only when it is raised (window kinds
        that link one find it here rather than on every pass)."""
        return observation.execution

    # --- event side -------------------------------------------------------------------------
    def is_event_rule(self, rule) -> bool:
        return False

    def wants(self, event) -> bool:
        """Whether a monitoring event (after commit) can matter to this kind; cheap, no queries."""
        return False

    def observe(self, rule, batch: Batch):
        """Observations for `rule` from one commit's records (scope is checked by the engine)."""
        return ()

    # --- window side ------------------------------------------------------------------------
    def is_window_rule(self, rule) -> bool:
        return False

    def evaluate_window(self, rules, scope, now) -> dict:
        """{rule pk: {workflow pk: Observation}} for the workflows where the condition holds now.
        Every workflow in a rule's scope that is absent does not hold. Queries are aggregated
        over all `rules` at once (grouped by workflow), never one per rule or workflow."""
        return {}


def event_time(*candidates):
    """The first known time among the candidates (a record's own times), else now."""
    for candidate in candidates:
        if candidate is not None:
            return candidate
    return timezone.now()


def workflow_label(workflow):
    return workflow.name or workflow.external_id
