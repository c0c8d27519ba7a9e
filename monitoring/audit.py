"""What the audit trail (django-auditlog) records: every change to teams, memberships, tokens,
workflows, executions changed explicitly, and the resolution / acknowledgement of errors and
alerts, with actor (user, or token in additional_data), before/after, time and request id.

Ingested records (logs, errors, performance, alerts posted as data) are the data stream itself and
are written in bulk without per-row audit entries; retention runs are recorded as RetentionRun.

Who acted comes from monitoring.request_context, through ONE pre_save receiver connected once at
start-up. auditlog's own middleware and set_actor() connect and disconnect a receiver per request
instead; a context left open by a failing request was then closed by the garbage collector while
another thread held the signal's lock, and the whole server process froze (and receivers leaked).
"""

from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.contrib.auth import get_user_model
from django.db.models.signals import pre_save

from . import request_context
from .models import Alert, ErrorGroup, Execution, Membership, RetentionRun, ServiceToken, Team, Workflow, WorkflowError

auditlog.register(Team)
auditlog.register(Membership)
auditlog.register(ServiceToken, exclude_fields=["token_hash", "last_used_at"])
auditlog.register(Workflow)
auditlog.register(Execution, exclude_fields=["last_activity_at", "updated_at"])
auditlog.register(WorkflowError)
auditlog.register(Alert)
# What people change on a group; its counts move with every ingested error and are not audited.
auditlog.register(ErrorGroup, include_fields=["status", "regressed", "resolved_at", "resolved_by", "resolution_notes"])
auditlog.register(RetentionRun)
auditlog.register(get_user_model(), exclude_fields=["password", "last_login"])


def stamp_log_entry(sender, instance, **kwargs):
    """Adds the acting user or service token and the client's address to a new audit entry."""
    context = request_context.current()
    if context is None or instance.pk is not None:
        return
    instance.remote_addr = instance.remote_addr or context.remote_addr
    actor = context.actor()
    if instance.actor is None and actor is not None:
        instance.actor, instance.actor_email = actor, getattr(actor, "email", None) or None
    if context.token is not None:
        token = context.token
        instance.additional_data = {
            **(instance.additional_data or {}),
            "token": token.name, "token_prefix": token.prefix, "team": token.team.slug,
        }


def connect():
    pre_save.connect(stamp_log_entry, sender=LogEntry, dispatch_uid="flowtower.audit.stamp_log_entry")
