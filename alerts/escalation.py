"""When an alert that keeps firing is told again: repeats per channel, as its route's repeat
interval says, and one escalation of a critical alert nobody acknowledged in time. The caller
(alerts.notify) has already checked that the alert is open, unacknowledged and neither silenced
nor inhibited — acknowledging stops both."""

from django.db.models import Max

from monitoring.models import AlertSeverity

from .models import Delivery, NotificationEvent
from .routing import escalate_after, escalation_channels


def last_told(alert_ids):
    """{alert id: {channel id: when it was last sent that alert's firing or repeat}}, in one
    query. Per channel, from the deliveries on record: one channel's short interval must not hold
    back another's longer one."""
    found = {}
    rows = (Delivery.objects.filter(alert_id__in=alert_ids, attempt=1,
                                    event__in=[NotificationEvent.FIRING, NotificationEvent.REPEAT])
            .values_list("alert_id", "channel_id").annotate(last=Max("created_at")).order_by())
    for alert_id, channel_id, last in rows:
        found.setdefault(alert_id, {})[channel_id] = last
    return found


def due_repeats(alert, state, targets, now, told_at=None):
    """The channels (already told it fired) whose repeat interval has passed since they were last
    told. `told_at`: the alert's entry of last_told(), when the caller loaded it for many alerts."""
    told = [t for t in targets if t.channel.pk in state.channels]
    if not told or state.last_notified_at is None:
        return []
    last = last_told([alert.pk]).get(alert.pk, {}) if told_at is None else told_at
    return [t.channel for t in told if now - last.get(t.channel.pk, state.last_notified_at) >= t.repeat_interval]


def due_escalation(alert, state, targets, now):
    """The escalation channels, once the critical alert has gone unacknowledged for its routes'
    escalate_after since it was first notified; else nothing. Once per alert."""
    if alert.severity != AlertSeverity.CRITICAL or state.escalated_at or state.first_notified_at is None:
        return []
    after = escalate_after(targets)
    if after is None or now - state.first_notified_at < after:
        return []
    return escalation_channels(targets)
