"""Flowtower's data model, one module per concept: teams and access (accounts), workflows and
executions with the records they leave (records), error groups, hourly rollups, alerts, and the
service's own housekeeping. Everything is importable from `monitoring.models`.

Every record reaches its team through its workflow, so scoping a query to a team is one join.
The record tables use UUID keys and carry their own `timestamp`; execution logs are partitioned
by day (docs/partitions.md) without clients seeing it.

Indexes: a foreign key gets no index of its own (db_index=False) where a composite index or unique
constraint already starts with it — (workflow, -timestamp), (execution, timestamp), (team, source,
external_id)… PostgreSQL uses the composite's leading column for the same lookups (filters, the
joins of cascading deletes), and every extra index costs each insert and the disk. Foreign keys
with no such composite (an error's or alert's execution, retry_of) keep theirs.
"""

from .accounts import ROLE_RANK, TOKEN_PREFIX, Membership, Role, ServiceToken, Team, hash_token
from .alerts import Alert, AlertSeverity, AlertSource, AlertStatus, AlertType
from .error_groups import ErrorGroup, ErrorGroupStatus
from .housekeeping import IdempotencyKey, RetentionRun
from .records import (
    FAILED_STATES,
    FINAL_STATES,
    ErrorSeverity,
    ErrorType,
    Execution,
    ExecutionLog,
    ExecutionState,
    LogLevel,
    PerformanceMetric,
    Workflow,
    WorkflowError,
)
from .rollups import ErrorRollup, ExecutionRollup, RollupLevel

__all__ = [
    "ROLE_RANK", "TOKEN_PREFIX", "Alert", "AlertSeverity", "AlertSource", "AlertStatus", "AlertType",
    "ErrorGroup", "ErrorGroupStatus", "ErrorRollup", "ErrorSeverity", "ErrorType", "Execution",
    "ExecutionLog", "ExecutionRollup", "ExecutionState", "FAILED_STATES", "FINAL_STATES", "IdempotencyKey",
    "LogLevel", "Membership", "PerformanceMetric", "RetentionRun", "Role", "RollupLevel", "ServiceToken",
    "Team", "Workflow", "WorkflowError", "hash_token",
]
