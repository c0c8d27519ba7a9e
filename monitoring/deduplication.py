"""One open alert per team and fingerprint. Every alert, whatever its source (a REST post, an alert
rule, Alertmanager), is recorded through `record_alert`: while an alert with the fingerprint is
open (not resolved), a repeat raises its occurrence count and last-seen time and takes the newest
wording, instead of adding a row. Publishing the events is the caller's part
(monitoring.services.raise_alert publishes one; monitoring.ingest one per batch).

The database decides, not a read-then-write: the partial unique index
alert_one_open_per_fingerprint refuses a second open alert, so two workers raising the same alert
at once end with one row, counted twice."""

import hashlib

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import Alert, AlertSource

# What a repeat of an open alert may change: the newest report's wording and severity win.
REPEAT_FIELDS = ("severity", "title", "description", "alert_type", "execution", "labels", "metadata")


def posted_fingerprint(workflow_id: str, alert_type: str, title: str) -> str:
    """The fingerprint of a posted alert that names none: the SHA-1 (hex) of the workflow id the
    service posts, the alert type and the stored title, joined by NUL characters (which none of
    them may contain, so two different triples never join to the same text)."""
    return hashlib.sha1("\x00".join((workflow_id, alert_type, title)).encode()).hexdigest()


def record_alert(team, *, fingerprint, alert_type, severity, title, source=AlertSource.POSTED, description="",
                 workflow=None, execution=None, labels=None, metadata=None, at=None):
    """Create the open alert with this fingerprint, or count a repeat of it. Publishes nothing.
    Returns (alert, created)."""
    at = at or timezone.now()
    fields = {
        "severity": severity, "title": title[:255], "description": description, "alert_type": alert_type,
        "execution": execution, "labels": labels or {}, "metadata": metadata or {},
    }
    for attempt in range(2):
        try:
            with transaction.atomic():
                alert = (Alert.objects.select_for_update(of=("self",))
                         .filter(team=team, fingerprint=fingerprint, resolved=False).first())
                if alert is None:
                    alert = Alert.objects.create(team=team, workflow=workflow, fingerprint=fingerprint, source=source,
                                                 timestamp=at, last_seen_at=at, **fields)
                    return alert, True
                _count_repeat(alert, fields, at)
                _reuse_loaded(alert, team, workflow)
                return alert, False
        except IntegrityError:
            # Another worker created the open alert between our read and our insert (the partial
            # unique index refused ours): the second pass finds and counts theirs.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _count_repeat(alert, fields, at):
    alert.occurrences += 1
    alert.last_seen_at = max(alert.last_seen_at, at)
    for name in REPEAT_FIELDS:
        setattr(alert, name, fields[name])
    alert.save(update_fields=["occurrences", "last_seen_at", *REPEAT_FIELDS])


def _reuse_loaded(alert, team, workflow):
    # The caller's team and workflow objects are the alert's own rows: serializing the alert for
    # its event then costs no further queries.
    alert.team = team
    if workflow is not None and alert.workflow_id == workflow.pk:
        alert.workflow = workflow
