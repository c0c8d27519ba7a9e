"""Routing: a team's routes and a rule's own channels decide which channels hear of an alert,
each once, with the repeat interval and escalation of the routes that reach it."""

from datetime import timedelta

import pytest

from alerts.models import AlertRule, Channel, Route
from alerts.routing import channels_for, escalate_after, escalation_channels
from monitoring.models import Workflow
from monitoring.services import raise_alert


@pytest.fixture
def workflow(team):
    return Workflow.objects.create(team=team, external_id="wf-billing", tags=["billing"])


@pytest.fixture
def channel(team):
    def make(name, enabled=True, owner=None):
        return Channel.objects.create(team=owner or team, name=name, kind="log", enabled=enabled)
    return make


def route(team, channel, name=None, rules=(), **fields):
    made = Route.objects.create(team=team, name=name or channel.name, channel=channel, **fields)
    made.rules.set(rules)
    return made


def alert(team, workflow=None, severity="warning", rule=None, source=None, labels=None):
    labels = labels if labels is not None else ({"rule": str(rule.pk)} if rule else {})
    source = source or ("rule" if rule else "posted")
    fingerprint = f"{source}:{severity}:{labels}:{workflow.pk if workflow else ''}"
    return raise_alert(team, fingerprint=fingerprint, alert_type="error", severity=severity, title="t",
                       source=source, workflow=workflow, labels=labels)[0]


def names(targets):
    return sorted(target.channel.name for target in targets)


def test_routes_filter_by_severity_and_empty_means_every_severity(team, workflow, channel):
    route(team, channel("pager"), severities=["critical"])
    route(team, channel("chat"), severities=["warning", "critical"])
    route(team, channel("archive"))
    assert names(channels_for(alert(team, workflow, "critical"))) == ["archive", "chat", "pager"]
    assert names(channels_for(alert(team, workflow, "warning"))) == ["archive", "chat"]
    assert names(channels_for(alert(team, workflow, "info"))) == ["archive"]


def test_routes_filter_by_rule(team, workflow, channel):
    failures = AlertRule.objects.create(team=team, name="Failures", kind="execution_failed")
    stuck = AlertRule.objects.create(team=team, name="Stuck", kind="stuck")
    route(team, channel("failures"), rules=[failures])
    route(team, channel("everything"))
    assert names(channels_for(alert(team, workflow, rule=failures))) == ["everything", "failures"]
    assert names(channels_for(alert(team, workflow, rule=stuck))) == ["everything"]
    # A posted alert comes from no rule; an Alertmanager label named "rule" does not make it one.
    assert names(channels_for(alert(team, workflow))) == ["everything"]
    assert names(channels_for(alert(team, source="alertmanager", labels={"rule": str(failures.pk)}))) == ["everything"]


def test_routes_filter_by_workflow_tag(team, workflow, channel):
    route(team, channel("billing"), tags=["billing", "payments"])
    route(team, channel("marketing"), tags=["marketing"])
    assert names(channels_for(alert(team, workflow))) == ["billing"]
    # An alert without a workflow (Alertmanager) reaches only routes without tags.
    assert names(channels_for(alert(team, source="alertmanager", labels={"alertname": "X"}))) == []


def test_a_rules_own_channels_get_its_alerts_whatever_the_routes_say(team, workflow, channel):
    rule = AlertRule.objects.create(team=team, name="Failures", kind="execution_failed")
    rule.channels.set([channel("ops-webhook")])
    route(team, channel("pager"), severities=["critical"])
    targets = channels_for(alert(team, workflow, "warning", rule=rule))
    assert names(targets) == ["ops-webhook"]
    assert targets[0].repeat_interval == timedelta(minutes=240)


def test_a_channel_reached_twice_is_notified_once_as_urgently_as_its_routes_say(team, workflow, channel):
    pager, lead, boss = channel("pager"), channel("team lead"), channel("boss")
    rule = AlertRule.objects.create(team=team, name="Failures", kind="execution_failed")
    rule.channels.set([pager])
    route(team, pager, name="slow", repeat_interval_minutes=120, escalate_after_minutes=60, escalation_channel=lead)
    route(team, pager, name="fast", repeat_interval_minutes=30, escalate_after_minutes=15, escalation_channel=boss)
    targets = channels_for(alert(team, workflow, "critical", rule=rule))
    assert names(targets) == ["pager"]
    assert targets[0].repeat_interval == timedelta(minutes=30)
    assert escalate_after(targets) == timedelta(minutes=15)
    assert sorted(c.name for c in escalation_channels(targets)) == ["boss", "pager", "team lead"]


def test_disabled_routes_and_channels_are_left_out(team, workflow, channel):
    route(team, channel("off", enabled=False))
    route(team, channel("paused"), enabled=False)
    rule = AlertRule.objects.create(team=team, name="Failures", kind="execution_failed")
    rule.channels.set([channel("rule-off", enabled=False)])
    assert channels_for(alert(team, workflow, rule=rule)) == []


def test_escalation_goes_to_the_routes_escalation_channel_else_its_own(team, workflow, channel):
    route(team, channel("chat"), escalation_channel=channel("on-call"))
    route(team, channel("email"))
    route(team, channel("sms"), escalation_channel=channel("disabled", enabled=False))
    targets = channels_for(alert(team, workflow, "critical"))
    assert sorted(c.name for c in escalation_channels(targets)) == ["email", "on-call", "sms"]


def test_another_teams_routes_never_apply(team, other_team, workflow, channel):
    route(other_team, channel("theirs", owner=other_team))
    assert channels_for(alert(team, workflow)) == []
