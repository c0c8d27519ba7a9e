"""Handing background work to Celery without letting a broker outage stall requests or lose the
work (the alerting engine's evaluation, notifications and deliveries; the n8n mirror's syncs of
executions its hook reported).

These tasks are sent from a commit hook of the request (or task) that wrote the data. With Redis down, a plain `.delay()` fails after its own connection attempts — most of a
second on every request — and the work is gone: a failed execution would never raise its alert.
So:

- a publish that fails opens a short circuit (RETRY_AFTER seconds) during which no publish is
  attempted, so a Redis outage costs one failed attempt per process every few seconds, not one
  per request; one warning is logged per outage;
- while the broker is unreachable, short work (evaluation, notification, one execution's sync: a
  few indexed queries) runs right here instead (`inline`): the alert is raised and its
  deliveries are recorded;
- deliveries are not sent inline (a receiver may take seconds): their Delivery rows stay pending,
  and the notification pass picks up pending deliveries nobody is working on once Celery runs
  again (alerts.delivery.resend_stale).
"""

import logging
import time

from kombu.exceptions import OperationalError as KombuOperationalError

from monitoring.outages import OUTAGE_ERRORS

logger = logging.getLogger(__name__)

RETRY_AFTER = 5.0
BROKER_ERRORS = (KombuOperationalError, *OUTAGE_ERRORS, OSError)

_down_until = 0.0
_outage_logged = False


def broker_down() -> bool:
    return time.monotonic() < _down_until


def reset():
    """Forget an outage (tests, or after a configuration change)."""
    global _down_until, _outage_logged
    _down_until, _outage_logged = 0.0, False


def enqueue(task, args, *, countdown=None, inline_when_down=True) -> str:
    """Send `task(*args)` to Celery. Returns "queued", or when the broker is unreachable "inline"
    (run here and now) or "deferred" (not run; the caller's record stays pending)."""
    global _down_until, _outage_logged
    if not broker_down():
        try:
            task.apply_async(args, countdown=countdown, retry=False)
        except BROKER_ERRORS as exc:
            _down_until = time.monotonic() + RETRY_AFTER
            if not _outage_logged:  # once per outage, not once per request
                _outage_logged = True
                logger.warning("Celery broker unreachable (%s): short background work runs where the data "
                               "was written until it is back; deliveries wait for it", exc)
        else:
            if _outage_logged:
                _outage_logged = False
                logger.warning("Celery broker reachable again")
            return "queued"
    if inline_when_down:
        task.apply(args)
        return "inline"
    return "deferred"
