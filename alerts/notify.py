"""The notification pipeline: what happens to an alert after it is recorded.

monitoring publishes an "alert" event whenever an alert is raised, repeated, acknowledged,
resolved or marked; the receiver below hands the alert ids of one commit to ONE Celery task
(`alerts.tasks.process_alerts`), never to the request that wrote them. `process` then, under a
row lock on the alert's AlertNotification (two workers never notify the same thing twice):

1. marks the alert silenced (a matching silence is in effect) or inhibited (an open critical
   alert of the same workflow holds back its warning and info alerts), through
   monitoring.services.mark_alert and only when a mark changes;
2. notifies its routed channels (alerts.routing): "firing" to each channel not yet told,
   "repeat" when a channel's repeat interval has passed, "escalation" once for a critical alert
   nobody acknowledged in time (alerts.escalation); nothing while it is silenced or inhibited;
3. sends "acknowledged" once, and then no repeats or escalation; "resolved" once — both only to
   the channels that were told it fired.

mark_alert publishes an alert event too; the task it starts finds nothing to change or send (every
step above compares with what is recorded), so it ends there. The notification pass (every minute)
runs the same `process` over the open alerts: repeats and escalations fall due with time, and a
silence that ended lets its still-firing alerts through."""

import logging
from itertools import islice

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from monitoring import dispatch, services
from monitoring.events import monitoring_events_committed
from monitoring.models import Alert, AlertSeverity

from . import delivery, escalation
from .models import AlertNotification, Channel, NotificationEvent, Silence
from .routing import Routing
from .silences import active_silences, silencing

logger = logging.getLogger(__name__)


class Context:
    """What one task or pass has already loaded — routes, silences in effect, workflows with an
    open critical alert — so a pass over many alerts of a team does not query them per alert."""

    def __init__(self, now=None, follow_inhibited=True):
        self.now = now or timezone.now()
        self.routing = Routing()
        self.follow_inhibited = follow_inhibited
        self._silences = {}
        self._critical_workflows = None

    def silences(self, team_id):
        if team_id not in self._silences:
            self._silences[team_id] = active_silences(team_id, self.now)
        return self._silences[team_id]

    def inhibited(self, alert):
        """An open critical alert of the same workflow holds back this warning or info alert."""
        if alert.severity == AlertSeverity.CRITICAL or alert.workflow_id is None:
            return False
        if self._critical_workflows is not None:  # a pass: one query for all workflows
            return alert.workflow_id in self._critical_workflows
        return Alert.objects.filter(workflow_id=alert.workflow_id, severity=AlertSeverity.CRITICAL,
                                    resolved=False).exclude(pk=alert.pk).exists()

    def load_critical_workflows(self):
        self._critical_workflows = set(Alert.objects.filter(severity=AlertSeverity.CRITICAL, resolved=False)
                                       .exclude(workflow=None).values_list("workflow_id", flat=True))


# ---- one alert ---------------------------------------------------------------------------------

def _wanted_marks(alert, context):
    return silencing(alert, context.silences(alert.team_id)) is not None, context.inhibited(alert)


def _refresh_marks(alert, context):
    silenced, inhibited = _wanted_marks(alert, context)
    if (alert.silenced, alert.inhibited) == (silenced, inhibited):
        return alert
    return services.mark_alert(alert, silenced=silenced, inhibited=inhibited)


def _send(alert, channels, event, sent):
    for channel in channels:
        delivery.notify(alert, channel, event)
        sent.append((event, channel.pk))


def _told_channels(state):
    return list(Channel.objects.filter(pk__in=state.channels, enabled=True).order_by("pk"))


def _reopened(alert, state):
    return ((not alert.resolved and state.resolved_notified_at is not None)
            or (not alert.acknowledged and state.acknowledged_notified_at is not None))


def _forget_closing(alert, state):
    """A person reopened the alert (or took back the acknowledgement): it starts over — notified
    as firing again, and its next resolution (acknowledgement) is told again. True if reset."""
    if not alert.resolved and state.resolved_notified_at is not None:
        state.first_notified_at = state.last_notified_at = state.escalated_at = None
        state.acknowledged_notified_at = state.resolved_notified_at = None
        state.channels = []
        return True
    if not alert.acknowledged and state.acknowledged_notified_at is not None:
        state.acknowledged_notified_at = None
        return True
    return False


def _close(alert, state, context, sent):
    """Tell the channels that heard of the firing alert that it was resolved or acknowledged, once."""
    if alert.resolved:
        if state.resolved_notified_at is None and state.channels:
            _send(alert, _told_channels(state), NotificationEvent.RESOLVED, sent)
            state.resolved_notified_at = context.now
    elif state.acknowledged_notified_at is None and state.channels:
        _send(alert, _told_channels(state), NotificationEvent.ACKNOWLEDGED, sent)
        state.acknowledged_notified_at = context.now


def _fire(alert, state, context, sent):
    """Firing to channels not yet told, repeats that fell due, escalation once."""
    targets = context.routing.targets(alert)
    new = [t.channel for t in targets if t.channel.pk not in state.channels]
    if new:
        _send(alert, new, NotificationEvent.FIRING, sent)
        state.channels = [*state.channels, *(c.pk for c in new)]
        state.first_notified_at = state.first_notified_at or context.now
        state.last_notified_at = context.now
    due = escalation.due_repeats(alert, state, [t for t in targets if t.channel not in new], context.now)
    if due:
        _send(alert, due, NotificationEvent.REPEAT, sent)
        state.last_notified_at = context.now
    channels = escalation.due_escalation(alert, state, targets, context.now)
    if channels:
        _send(alert, channels, NotificationEvent.ESCALATION, sent)
        # Escalation channels hear of the acknowledgement and the resolution too.
        state.channels = [*state.channels, *(c.pk for c in channels if c.pk not in state.channels)]
        state.escalated_at = context.now


def process(alert_id, context=None):
    """Bring one alert's marks and notifications up to date. Returns what was sent, as a list of
    (event, channel id)."""
    context = context or Context()
    if not Alert.objects.filter(pk=alert_id).exists():
        return []  # deleted (retention) before its task ran
    AlertNotification.objects.bulk_create([AlertNotification(alert_id=alert_id)], ignore_conflicts=True)
    sent = []
    with transaction.atomic():
        state = AlertNotification.objects.select_for_update().get(pk=alert_id)
        # Read after taking the lock: whatever the previous holder marked or sent is visible.
        alert = Alert.objects.select_related("team", "workflow").get(pk=alert_id)
        reopened = _forget_closing(alert, state)
        if not alert.resolved:
            alert = _refresh_marks(alert, context)
        if alert.resolved or alert.acknowledged:
            _close(alert, state, context, sent)
        elif not (alert.silenced or alert.inhibited):
            _fire(alert, state, context, sent)
        if sent or reopened:
            state.save()
    if context.follow_inhibited and alert.severity == AlertSeverity.CRITICAL and alert.workflow_id:
        # A critical alert that opens or resolves changes what its workflow's other alerts may say.
        for other in (Alert.objects.filter(workflow_id=alert.workflow_id, resolved=False)
                      .exclude(severity=AlertSeverity.CRITICAL).values_list("pk", flat=True)):
            sent += process(other, context)
    return sent


def process_many(alert_ids):
    """Process each alert in its own transaction; one failure does not hold back the others."""
    context = Context()
    sent = []
    for alert_id in dict.fromkeys(str(pk) for pk in alert_ids):
        try:
            sent += process(alert_id, context)
        except Exception:
            logger.exception("processing alert %s failed", alert_id)
    return sent


# ---- the notification pass --------------------------------------------------------------------

PASS_CHUNK = 500


def _has_work(alert, state, context, told_at):
    """Whether process() would mark or send anything for this open alert: the pass checks every
    open alert in memory like this and locks and processes only those. When in doubt, yes."""
    if state is None or _reopened(alert, state):
        return True
    if (alert.silenced, alert.inhibited) != _wanted_marks(alert, context):
        return True
    if alert.acknowledged:
        return bool(state.channels) and state.acknowledged_notified_at is None
    if alert.silenced or alert.inhibited:
        return False
    targets = context.routing.targets(alert)
    return bool(any(t.channel.pk not in state.channels for t in targets)
                or escalation.due_repeats(alert, state, targets, context.now, told_at)
                or escalation.due_escalation(alert, state, targets, context.now))


def _open_alerts_with_work(context):
    alerts = (Alert.objects.filter(resolved=False).select_related("team", "workflow", "notification")
              .order_by("pk").iterator(chunk_size=PASS_CHUNK))
    while batch := list(islice(alerts, PASS_CHUNK)):
        states = {alert.pk: getattr(alert, "notification", None) for alert in batch}
        told = escalation.last_told([pk for pk, state in states.items() if state is not None and state.channels])
        yield from (alert.pk for alert in batch if _has_work(alert, states[alert.pk], context, told.get(alert.pk, {})))


def notification_pass(now=None):
    """Every minute: repeats and escalations that fell due, silences that began or ended (marks
    refreshed; an alert whose silence ended while it still fires is notified), and resolutions
    or acknowledgements a lost task did not send. Open alerts are checked in memory, a chunk at a
    time (a few queries per chunk); only those with something to do are locked and processed.
    Returns the number of notifications sent."""
    context = Context(now, follow_inhibited=False)
    context.load_critical_workflows()
    unsent_resolutions = (AlertNotification.objects.filter(alert__resolved=True, resolved_notified_at=None)
                          .exclude(first_notified_at=None).values_list("alert_id", flat=True))
    sent = 0
    for alert_id in [*_open_alerts_with_work(context), *unsent_resolutions]:
        try:
            sent += len(process(alert_id, context))
        except Exception:
            logger.exception("notification pass: alert %s failed", alert_id)
    return sent


# ---- receivers ---------------------------------------------------------------------------------

def alert_events_committed(sender, events, **kwargs):
    """One task per commit for the alerts it raised, changed or marked."""
    ids = list(dict.fromkeys(str(event.data["id"]) for event in events if event.type == "alert"))
    if ids:
        from .tasks import process_alerts  # tasks imports this module

        dispatch.enqueue(process_alerts, (ids,))


def silences_changed(team_id):
    """Re-mark the team's open alerts after a silence was created, changed or removed, once the
    change is committed (instead of waiting up to a minute for the pass)."""
    def enqueue():
        # Only the alerts whose silenced mark changes: checked here in memory, the task locks them.
        silences = active_silences(team_id)
        alerts = Alert.objects.filter(team_id=team_id, resolved=False).select_related("team", "workflow")
        ids = [str(alert.pk) for alert in alerts if alert.silenced != (silencing(alert, silences) is not None)]
        if ids:
            from .tasks import process_alerts

            dispatch.enqueue(process_alerts, (ids,))

    transaction.on_commit(enqueue)


def silence_saved_or_deleted(sender, instance, **kwargs):
    silences_changed(instance.team_id)


def connect_receivers():
    """Called once from AlertsConfig.ready()."""
    monitoring_events_committed.connect(alert_events_committed, dispatch_uid="alerts.notify.alert_events")
    post_save.connect(silence_saved_or_deleted, sender=Silence, dispatch_uid="alerts.notify.silence_saved")
    post_delete.connect(silence_saved_or_deleted, sender=Silence, dispatch_uid="alerts.notify.silence_deleted")
