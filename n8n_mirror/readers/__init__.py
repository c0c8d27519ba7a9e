"""Readers of one n8n instance: its database (SQLite file or PostgreSQL) or its public REST API.
Both answer the same questions with the same source-neutral records (readers.base)."""

from .base import (  # noqa: F401
    CredentialsRejected,
    N8nExecution,
    N8nReadError,
    N8nWorkflow,
    SourceLocked,
    SourceMissing,
    SourceTimeout,
    SourceUnreachable,
    UnexpectedAnswer,
)
