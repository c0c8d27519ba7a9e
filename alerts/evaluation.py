"""The rule evaluation engine: from a kind's Observations to alerts. Both paths use it — event
rules after each commit (alerts/evaluation_events.py) and window rules once a minute
(alerts/evaluation_windows.py) — so "for" durations, deduplication and auto-resolve behave the
same for every kind.

Where a rule stands for a workflow is a RuleState row: absent while the condition does not
hold; pending from the moment it holds; firing once it has held for the rule's for_seconds.
Alerts are only raised and cleared through monitoring.services (raise_alert / clear_alert),
with the fingerprint rule:<rule pk>:wf:<workflow pk>, so an alert stays open once per rule and
workflow and a repeat raises its occurrence count.

A rule that is disabled or deleted resolves its open alerts (nothing would ever resolve them
otherwise) and forgets its states."""

import logging
from collections import Counter, defaultdict
from datetime import timedelta

from monitoring.models import Alert, AlertSource, Workflow
from monitoring.services import clear_alert, raise_alert

from .models import RuleState
from .rules.scope import in_scope

logger = logging.getLogger(__name__)


def fingerprint(rule, workflow_id):
    return f"rule:{rule.pk}:wf:{workflow_id}"


def alert_labels(rule):
    return {"rule": str(rule.pk), "rule_name": rule.name, "kind": rule.kind}


class Evaluator:
    """One evaluation (a commit's events, or a window pass) at time `now`. States are loaded in
    bulk up front, changed in memory, and written in bulk by flush()."""

    def __init__(self, now):
        self.now = now
        self.summary = Counter()
        self.workflows = {}  # pk -> Workflow (with team), for the alerts' links and wording
        self.states = defaultdict(dict)  # rule pk -> {workflow pk: RuleState}
        self._dirty = {}  # (rule pk, workflow pk) -> RuleState to insert or update
        self._gone = []  # pks of RuleStates to delete
        # fingerprint -> execution pk of the open alert, for event rules: the same execution
        # reported again (a late performance record for a failed run) is not a new occurrence.
        self._open_execution = {}

    # --- loading ------------------------------------------------------------------------------
    def load_states(self, rules, workflow_ids=None, states=None):
        """The rules' states (`states`: a queryset that selects them without naming 30,000 rule
        pks); returns the fingerprints of those firing."""
        wanted = {rule.pk for rule in rules}
        if states is None:
            states = RuleState.objects.filter(rule__in=wanted)
        if workflow_ids is not None:
            states = states.filter(workflow_id__in=workflow_ids)
        firing = []
        for state in states:
            if state.rule_id in wanted:
                self.states[state.rule_id][state.workflow_id] = state
                if state.firing:
                    firing.append(state.fingerprint)
        return firing

    def load_open_executions(self, team_ids, fingerprints):
        if fingerprints:
            rows = Alert.objects.filter(team_id__in=team_ids, fingerprint__in=fingerprints, resolved=False)
            self._open_execution.update(rows.values_list("fingerprint", "execution_id"))

    def load_workflows(self, pks):
        missing = [pk for pk in pks if pk not in self.workflows]
        if missing:
            self.workflows.update((w.pk, w) for w in Workflow.objects.filter(pk__in=missing).select_related("team"))

    # --- the two ways a condition is followed -------------------------------------------------
    def apply_event(self, rule, kind, observation):
        """One observation of an event rule, in time order: a failure after a success raises,
        a success after a failure clears; the same execution reported twice counts once."""
        state = self.states[rule.pk].get(observation.workflow_id)
        if observation.holds:
            if state is not None and state.firing and self._already_counted(rule, observation):
                return
            if state is None:
                state = self._start(rule, observation.workflow_id, since=observation.at)
            self._hold(rule, kind, state, observation)
        elif state is not None and observation.at >= state.pending_since:
            # (An older success arriving late says nothing about the newer failure.)
            self._end(rule, state, at=observation.at)

    def reconcile(self, rule, kind, holding):
        """A window rule's pass: `holding` ({workflow pk: Observation}) is every workflow of the
        rule's scope where the condition holds now; every other state of the rule has cleared.
        A condition that keeps firing leaves its open alert as it is (a pass writes nothing for
        it); one that clears and comes back while the alert is still open (auto_resolve off)
        counts a repeat."""
        states = self.states[rule.pk]
        for workflow_id, observation in holding.items():
            state = states.get(workflow_id) or self._start(rule, workflow_id, since=self.now)
            if state.firing:
                self._note_value(rule, state, observation)
            else:
                self._hold(rule, kind, state, observation)
        for workflow_id, state in list(states.items()):
            if workflow_id not in holding:
                self._end(rule, state, at=self.now)

    def promote(self, rule, kind, state, observation):
        """A pending event condition whose "for" duration has passed with no sign of recovery."""
        if self._ready(rule, state):
            self._hold(rule, kind, state, observation)

    # --- state changes ------------------------------------------------------------------------
    def _start(self, rule, workflow_id, since):
        state = RuleState(rule_id=rule.pk, workflow_id=workflow_id, fingerprint=fingerprint(rule, workflow_id),
                          pending_since=since, firing=False)
        self.states[rule.pk][workflow_id] = state
        self._dirty[(rule.pk, workflow_id)] = state
        return state

    def _hold(self, rule, kind, state, observation):
        self._note_value(rule, state, observation)
        if not (state.firing or self._ready(rule, state)):
            self.summary["pending"] += 1
            return
        if self._fire(rule, kind, observation) and not state.firing:
            state.firing = True
            self._dirty[(rule.pk, state.workflow_id)] = state

    def _note_value(self, rule, state, observation):
        if state.last_value != observation.value:
            state.last_value = observation.value
            self._dirty[(rule.pk, state.workflow_id)] = state

    def _end(self, rule, state, at):
        if state.firing and rule.auto_resolve:
            self._clear(rule, state.workflow_id, at)
        del self.states[rule.pk][state.workflow_id]
        self._dirty.pop((rule.pk, state.workflow_id), None)
        if state.pk is not None:
            self._gone.append(state.pk)

    def _ready(self, rule, state):
        return self.now - state.pending_since >= timedelta(seconds=rule.for_seconds)

    def _already_counted(self, rule, observation):
        if observation.occurrence is None:
            return True
        return self._open_execution.get(fingerprint(rule, observation.workflow_id)) == observation.occurrence

    # --- alerts -------------------------------------------------------------------------------
    def _fire(self, rule, kind, observation):
        """Raise (or, while open, repeat) the alert. A failure is logged and skipped so one bad
        rule cannot stop the others; raise_alert's own savepoint keeps the transaction usable."""
        workflow = self.workflows[observation.workflow_id]
        fp = fingerprint(rule, workflow.pk)
        try:
            title, description = kind.describe(rule, workflow, observation)
            observation.execution = kind.execution_for(rule, observation)
            alert, created = raise_alert(
                rule.team, fingerprint=fp, source=AlertSource.RULE, alert_type=kind.alert_type_for(rule),
                severity=rule.severity, title=title, description=description, workflow=workflow,
                execution=observation.execution, labels=alert_labels(rule),
                metadata={"value": observation.value} if observation.value is not None else {},
                at=observation.at,
            )
        except Exception:
            logger.exception("alert rule %s could not raise its alert for workflow %s", rule.pk, workflow.pk)
            self.summary["errors"] += 1
            return False
        self._open_execution[fp] = alert.execution_id
        self.summary["raised" if created else "repeated"] += 1
        return True

    def _clear(self, rule, workflow_id, at):
        fp = fingerprint(rule, workflow_id)
        self._open_execution.pop(fp, None)
        try:
            if clear_alert(rule.team, fp, by="Flowtower (rule condition cleared)", at=at) is not None:
                self.summary["resolved"] += 1
        except Exception:
            logger.exception("alert rule %s could not resolve its alert for workflow %s", rule.pk, workflow_id)
            self.summary["errors"] += 1

    # --- writing --------------------------------------------------------------------------------
    def flush(self):
        """Write the states' changes: three statements, whatever the number of rules."""
        if self._gone:
            RuleState.objects.filter(pk__in=self._gone).delete()
        new = [s for s in self._dirty.values() if s.pk is None]
        changed = [s for s in self._dirty.values() if s.pk is not None]
        # ignore_conflicts: a concurrent evaluation (an event task during a pass) may have
        # started the same state; theirs stands.
        RuleState.objects.bulk_create(new, ignore_conflicts=True)
        for state in changed:
            state.updated_at = self.now
        RuleState.objects.bulk_update(changed, ["pending_since", "firing", "last_value", "updated_at"])
        self._dirty, self._gone = {}, []


# --- rules disabled or deleted -------------------------------------------------------------------
def retire_rule(rule, why):
    """Resolve a rule's open alerts and forget its states: with the rule off, nothing would
    ever resolve them, and a firing alert nobody evaluates misleads."""
    open_fingerprints = Alert.objects.filter(
        team_id=rule.team_id, source=AlertSource.RULE, fingerprint__startswith=f"rule:{rule.pk}:", resolved=False,
    ).values_list("fingerprint", flat=True)
    for fp in list(open_fingerprints):
        clear_alert(rule.team, fp, by=f"Flowtower ({why})")
    RuleState.objects.filter(rule_id=rule.pk).delete()


def forget_out_of_scope(rule):
    """After an edit of the rule's scope, the workflows it no longer covers: their states are
    dropped and their open alerts resolved (no event of theirs reaches the rule any more, so
    nothing else would resolve them)."""
    for state in RuleState.objects.filter(rule_id=rule.pk).select_related("workflow"):
        if not in_scope(rule, state.workflow):
            if state.firing:
                clear_alert(rule.team, state.fingerprint, by="Flowtower (rule no longer covers the workflow)")
            state.delete()


def on_rule_saved(sender, instance, **kwargs):
    if not instance.enabled:
        retire_rule(instance, "rule disabled")
    else:
        forget_out_of_scope(instance)


def on_rule_deleting(sender, instance, **kwargs):
    retire_rule(instance, "rule deleted")
