"""Routing: which of a team's channels hear of an alert, how often they are reminded, and where
an unacknowledged critical alert is escalated.

A team's enabled routes each name a channel and narrow what they carry: severities (empty: all),
rules (empty: all; a rule's alerts carry labels["rule"]) and workflow tags (empty: all; an alert
without a workflow matches only routes without tags). A rule may name channels of its own; they
get its alerts whatever the routes say, with a route's default repeat interval and escalation
(to themselves after 30 minutes). A channel reached more than once is notified once: it takes
the shortest repeat interval and the earliest escalation of the routes that reach it. Disabled
routes and channels are left out; a disabled escalation channel falls back to the route's own."""

from dataclasses import dataclass, field, replace
from datetime import timedelta

from monitoring.models import AlertSource

from .models import Channel, Route

DEFAULT_REPEAT = timedelta(minutes=Route._meta.get_field("repeat_interval_minutes").default)
DEFAULT_ESCALATE_AFTER = timedelta(minutes=Route._meta.get_field("escalate_after_minutes").default)


@dataclass(frozen=True)
class Target:
    """One channel an alert goes to, with its reminders and escalation."""

    channel: Channel
    repeat_interval: timedelta
    escalate_after: timedelta
    escalation_channels: tuple = field(default=())  # where escalation goes (deduplicated)

    def merged(self, other):
        # The same channel reached twice: remind and escalate as the most urgent route says.
        channels = {c.pk: c for c in (*self.escalation_channels, *other.escalation_channels)}
        return replace(self, repeat_interval=min(self.repeat_interval, other.repeat_interval),
                       escalate_after=min(self.escalate_after, other.escalate_after),
                       escalation_channels=tuple(channels.values()))


def rule_id(alert):
    """The id of the rule that raised the alert, or None. Only rule alerts count: an Alertmanager
    alert's "rule" label is whatever Prometheus sent."""
    value = str(alert.labels.get("rule", "")) if alert.source == AlertSource.RULE else ""
    return int(value) if value.isdigit() else None


def _route_matches(route, alert, rule_ids):
    if route.severities and alert.severity not in route.severities:
        return False
    if rule_ids and rule_id(alert) not in rule_ids:
        return False
    if route.tags:
        tags = alert.workflow.tags if alert.workflow is not None else []
        return bool(set(route.tags) & set(tags or []))
    return True


def _route_target(route):
    escalation = route.escalation_channel
    if escalation is None or not escalation.enabled:
        escalation = route.channel
    return Target(route.channel, timedelta(minutes=route.repeat_interval_minutes),
                  timedelta(minutes=route.escalate_after_minutes), (escalation,))


class TeamRouting:
    """A team's routes and its rules' own channels, loaded once: the notification pass routes many
    alerts of the same team, and each alert would otherwise cost the same queries again."""

    def __init__(self, team_id):
        self.team_id = team_id
        routes = (Route.objects.filter(team_id=team_id, enabled=True, channel__enabled=True)
                  .select_related("channel", "escalation_channel").prefetch_related("rules").order_by("name", "pk"))
        self.routes = [(route, {rule.pk for rule in route.rules.all()}) for route in routes]
        self._rule_channels = {}

    def rule_channels(self, pk):
        if pk not in self._rule_channels:
            self._rule_channels[pk] = list(
                Channel.objects.filter(rules__pk=pk, rules__team_id=self.team_id, enabled=True).order_by("name"))
        return self._rule_channels[pk]

    def targets(self, alert):
        """The deduplicated targets of one alert of this team, routes first, in a stable order."""
        found = {}
        for route, rule_ids in self.routes:
            if _route_matches(route, alert, rule_ids):
                target = _route_target(route)
                pk = route.channel_id
                found[pk] = found[pk].merged(target) if pk in found else target
        rule = rule_id(alert)
        for channel in self.rule_channels(rule) if rule is not None else ():
            target = Target(channel, DEFAULT_REPEAT, DEFAULT_ESCALATE_AFTER, (channel,))
            found[channel.pk] = found[channel.pk].merged(target) if channel.pk in found else target
        return list(found.values())


class Routing:
    """TeamRouting per team, built when first needed (one per notification pass or task)."""

    def __init__(self):
        self._teams = {}

    def targets(self, alert):
        if alert.team_id not in self._teams:
            self._teams[alert.team_id] = TeamRouting(alert.team_id)
        return self._teams[alert.team_id].targets(alert)


def channels_for(alert):
    """Which channels get this alert: a list of Target (channel, repeat interval, escalation)."""
    return TeamRouting(alert.team_id).targets(alert)


def escalation_channels(targets):
    """Where an escalation of an alert with these targets goes, each channel once."""
    return list({c.pk: c for target in targets for c in target.escalation_channels}.values())


def escalate_after(targets):
    """How long after the first notification an unacknowledged critical alert escalates: the
    earliest of its routes, or None when nothing routes it."""
    return min((target.escalate_after for target in targets), default=None)

