"""When an alert that keeps firing is told again: repeats per channel, as its route's repeat
interval says, and one escalation of a critical alert nobody acknowledged in time. The caller
(alerts.notify) has already checked that the alert is open, unacknowledged and neither silenced
nor inhibited — acknowledging stops both."""

from django.db.models import Max

from monitoring.models import AlertSeverity

from .models import Delivery, NotificationEvent
from .routing import escalate_after, escalation_channels


def _last_told(alert, channel_ids):
    """When each channel was last sent this alert's firing or repeat notification. Per channel,
    from the deliveries on record: one channel's short interval must not hold back another's
    longer one."""
    return dict(
        Delivery.objects.filter(alert=alert, channel_id__in=channel_ids, attempt=1,
                                event__in=[NotificationEvent.FIRING, NotificationEvent.REPEAT])
        .values_list("channel_id").annotate(last=Max("created_at")).order_by()
    )


def due_repeats(alert, state, targets, now):
    """The channels (already told it fired) whose repeat interval has passed since they were last
    told."""
    told = [t for t in targets if t.channel.pk in state.channels]
    if not told or state.last_notified_at is None:
        return []
    last = _last_told(alert, [t.channel.pk for t in told])
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
