"""What a reader gives back, whichever way it reads n8n: plain dataclasses, decoded values only
(no flatted text, no JSON strings), times as aware UTC datetimes, ids as strings."""

from dataclasses import dataclass, field
from datetime import datetime, timezone

# n8n's execution statuses (execution_entity.status); "unknown" only for a row that says nothing.
STATUSES = ("new", "running", "waiting", "success", "error", "canceled", "crashed")
UNFINISHED_STATUSES = ("new", "running", "waiting")


class N8nReadError(Exception):
    """n8n could not be read; the message says why in words an instance page can show."""


class SourceMissing(N8nReadError):
    """The SQLite file (or a table in the database) does not exist."""


class SourceLocked(N8nReadError):
    """The SQLite file is locked by a writer for longer than the reader waits."""


class SourceUnreachable(N8nReadError):
    """The database server or API did not answer (refused, unknown host, …)."""


class SourceTimeout(SourceUnreachable):
    """The database server or API took too long to answer."""


class CredentialsRejected(N8nReadError):
    """The API key (or database password) was rejected."""


class UnexpectedAnswer(N8nReadError):
    """n8n answered with something that is not what its API or schema promises."""


@dataclass
class N8nWorkflow:
    id: str
    name: str
    active: bool
    nodes: list = field(default_factory=list)
    connections: dict = field(default_factory=dict)
    tags: list = field(default_factory=list)  # tag names
    created_at: datetime | None = None
    updated_at: datetime | None = None
    settings: dict = field(default_factory=dict)


@dataclass
class N8nExecution:
    id: str
    workflow_id: str
    status: str
    mode: str = ""
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    finished: bool = False
    retry_of: str | None = None
    wait_till: datetime | None = None
    stored_at: str | None = None  # n8n 2.x: "db" or where the data lives instead; None before 2.x
    run_data: dict = field(default_factory=dict)  # resultData.runData: node name -> list of runs
    error: dict | None = None  # resultData.error
    last_node_executed: str | None = None
    data_available: bool = False  # False when n8n keeps the data elsewhere or has none
    # What the workflow saved with an Execution Data node or $execution.customData: key -> value
    # (n8n keeps strings); {} when none, or in an n8n without it.
    custom_data: dict = field(default_factory=dict)

    @property
    def is_unfinished(self):
        return self.status in UNFINISHED_STATUSES


def execution_sort_key(execution):
    """n8n execution ids are increasing integers (strings in the API)."""
    return int(execution.id)


def infer_status(status, finished, stopped_at, wait_till):
    """n8n's own status when the row has one; rows from before the status column only say
    `finished`: finished means success, a wait time means waiting, no stop time means running,
    anything else failed."""
    if status:
        return status
    if finished:
        return "success"
    if wait_till:
        return "waiting"
    if stopped_at is None:
        return "running"
    return "error"


def result_data_fields(data):
    """From a decoded execution `data` object: runData, error, lastNodeExecuted."""
    result = (data or {}).get("resultData") or {}
    return {
        "run_data": result.get("runData") or {},
        "error": result.get("error") or None,
        "last_node_executed": result.get("lastNodeExecuted"),
    }


def parse_time(value):
    """n8n times: ISO strings with Z (API), "YYYY-MM-DD HH:MM:SS.fff" UTC strings (SQLite), or
    datetimes (PostgreSQL, naive ones being UTC). Returns an aware UTC datetime or None."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)
