"""Celery tasks of the alerting engine: thin wrappers over plain functions."""

from celery import shared_task


# --- Rule evaluation (alerts/evaluation*.py) --------------------------------------------------

@shared_task(name="alerts.tasks.evaluate_events")
def evaluate_events(items):
    """Event rules over the records of one commit: items = [[event type, record id], …]."""
    from .evaluation_events import evaluate_events as evaluate

    return evaluate(items)


@shared_task(name="alerts.tasks.evaluate_window_rules")
def evaluate_window_rules():
    """One pass of the window rules (beat, every minute)."""
    from .evaluation_windows import evaluate_window_rules as evaluate

    return evaluate()


@shared_task(name="alerts.tasks.prepare_anomaly_baselines")
def prepare_anomaly_baselines():
    """The next hour's anomaly baselines, computed before it starts (beat, minute 50 of every hour)."""
    from .rules.anomaly import prepare_baselines

    return prepare_baselines()


# --- Deliveries (alerts/delivery.py) ----------------------------------------------------------

@shared_task(name="alerts.tasks.deliver")
def deliver(delivery_id, message_id=None):
    """One attempt of one notification to one channel (a pending Delivery); a retryable failure
    schedules the next attempt with backoff."""
    from .delivery import attempt

    attempt(delivery_id, message_id)


# --- Notification pipeline (alerts/notify.py) -------------------------------------------------

@shared_task(name="alerts.tasks.process_alerts")
def process_alerts(alert_ids):
    """Marks (silenced, inhibited) and notifications of the alerts one commit raised or changed."""
    from .notify import process_many

    return len(process_many(alert_ids))


@shared_task(name="alerts.tasks.notification_pass")
def notification_pass():
    """Repeats, escalations and ended silences (beat, every minute). Returns notifications sent."""
    from .delivery import resend_stale
    from .notify import notification_pass as run_pass

    resend_stale()
    return run_pass()
