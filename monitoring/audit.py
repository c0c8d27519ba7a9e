"""What the audit trail (django-auditlog) records: every change to teams, memberships, tokens,
workflows, executions changed explicitly, and the resolution / acknowledgement of errors and
alerts, with actor (user, or token in additional_data), before/after and time.

Ingested records (logs, errors, performance, alerts posted as data) are the data stream itself and
are written in bulk without per-row audit entries; retention runs are recorded as RetentionRun.
"""

from auditlog.registry import auditlog
from django.contrib.auth import get_user_model

from .models import Alert, Execution, Membership, RetentionRun, ServiceToken, Team, Workflow, WorkflowError

auditlog.register(Team)
auditlog.register(Membership)
auditlog.register(ServiceToken, exclude_fields=["token_hash", "last_used_at"])
auditlog.register(Workflow)
auditlog.register(Execution, exclude_fields=["last_activity_at", "updated_at"])
auditlog.register(WorkflowError)
auditlog.register(Alert)
auditlog.register(RetentionRun)
auditlog.register(get_user_model(), exclude_fields=["password", "last_login"])
