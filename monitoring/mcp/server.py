"""The MCP server's tools: read-only, over one team's data, chosen by the service token the server
starts with. Each tool is a thin adapter: monitoring.queries reads and computes (the same reads
the REST API answers with), monitoring.access scopes them to the token's team,
monitoring.serializers gives records their shape; this module only checks arguments, turns
"not found" into a tool error and returns the typed result (monitoring.mcp.shapes)."""

import functools
from typing import Annotated, Literal, Optional

from django.db import close_old_connections, connection
from django.utils import timezone
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from .. import error_groups, node_stats, queries, time_saved
from ..access import Principal
from ..api.auth import LAST_USED_RESOLUTION
from ..models import TOKEN_PREFIX, AlertStatus, ErrorGroupStatus, ExecutionState, ServiceToken, hash_token
from ..serializers import serialize, serialize_many
from . import shapes

# No answer holds more records than this: an agent's context is small, and a larger page would
# only be cut by the client.
MAX_LIMIT = 200
# Per-node logs in one execution's answer; the rest are counted (logs_total).
MAX_EXECUTION_LOGS = 500

Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description=f"How many records, newest first (1 to {MAX_LIMIT}).")]
WorkflowId = Annotated[str, Field(min_length=1, max_length=255,
                                  description="The workflow's id as its source names it (workflow_id in results).")]
OptionalWorkflowId = Annotated[Optional[str], Field(min_length=1, max_length=255,
                                                    description="Only this workflow (its workflow_id).")]
Source = Annotated[Optional[str], Field(
    min_length=1, max_length=64,
    description="Only needed when two sources (api, n8n:<instance>) use the same workflow_id in the team.")]

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


class TokenRefused(Exception):
    """The server does not start: FLOWTOWER_TOKEN is missing, unknown or revoked."""


def token_from(raw: str | None) -> ServiceToken:
    """The active service token whose raw value is `raw`, looked up by its hash as the REST API does."""
    if not raw:
        raise TokenRefused("FLOWTOWER_TOKEN is not set: give the server a team's service token "
                           "(python manage.py create_service_token --team <slug> --name <name>).")
    token = None
    if raw.startswith(TOKEN_PREFIX):
        token = ServiceToken.objects.select_related("team").filter(token_hash=hash_token(raw)).first()
    if token is None or not token.is_active:
        raise TokenRefused("FLOWTOWER_TOKEN is not a valid service token: unknown or revoked.")
    return token


class TeamTools:
    """The tools, for the team of one service token."""

    def __init__(self, token: ServiceToken):
        self.token = token

    def principal(self) -> Principal:
        """Checked at every call, so a token revoked while the server runs stops it reading. Marked
        used at most once a minute, as the REST API does."""
        token = ServiceToken.objects.select_related("team").filter(pk=self.token.pk).first()
        if token is None or not token.is_active:
            raise ToolError("The service token was revoked; restart the server with a valid FLOWTOWER_TOKEN.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ServiceToken.objects.filter(pk=token.pk).update(last_used_at=now)
        self.token = token
        return Principal(token=token)

    # --- naming a workflow or an execution ---------------------------------------------------------
    @staticmethod
    def workflows(principal, workflow_id, source=None):
        """The team's workflows with this id (None: no filter). Another team's id is "not found",
        exactly as one that does not exist."""
        if workflow_id is None:
            return None
        try:
            found = queries.find_workflows(principal, external_id=workflow_id)
        except queries.WorkflowNotFound:
            raise ToolError(f"workflow_id: workflow '{workflow_id}' not found")
        if source is not None:
            found = found.filter(source=source)
            if not found.exists():
                raise ToolError(f"source: workflow '{workflow_id}' has no source '{source}'")
        return found

    def workflow(self, principal, workflow_id, source=None):
        """The one workflow a tool about a single workflow names."""
        found = list(self.workflows(principal, workflow_id, source)[:10])
        if len(found) > 1:
            sources = ", ".join(sorted(w.source for w in found))
            raise ToolError(f"workflow_id: '{workflow_id}' names workflows of several sources ({sources}); "
                            "add source")
        return found[0]

    def execution(self, principal, execution_id, workflow_id=None, source=None):
        workflows = self.workflows(principal, workflow_id, source)
        found = list(queries.executions(principal, workflows).filter(external_id=execution_id)[:10])
        if not found:
            raise ToolError(f"execution_id: execution '{execution_id}' not found")
        if len(found) > 1:
            names = ", ".join(sorted({e.workflow.external_id for e in found}))
            raise ToolError(f"execution_id: '{execution_id}' is an execution of several workflows ({names}); "
                            "add workflow_id")
        return found[0]

    # --- the tools ---------------------------------------------------------------------------------
    def get_recent_executions(
        self,
        limit: Limit = 20,
        status: Annotated[Optional[Literal[tuple(ExecutionState.values)]], Field(
            description="Only executions in this state.")] = None,
        workflow_id: OptionalWorkflowId = None,
    ) -> shapes.Executions:
        """The team's most recent executions, newest first: state, mode, start, stop, duration."""
        principal = self.principal()
        rows = queries.executions(principal, self.workflows(principal, workflow_id), [status] if status else None)
        found = serialize_many("execution", rows[:limit])
        return shapes.Executions(count=len(found), executions=found)

    def get_execution_errors(
        self,
        limit: Limit = 20,
        workflow_id: OptionalWorkflowId = None,
        unresolved_only: Annotated[bool, Field(description="Leave out errors somebody resolved.")] = False,
    ) -> shapes.Errors:
        """The team's most recent execution errors, newest first: type, severity, node, message,
        HTTP code, stack, resolved or not."""
        principal = self.principal()
        rows = queries.records("errors", principal, self.workflows(principal, workflow_id),
                               resolved=False if unresolved_only else None)
        found = serialize_many("error", rows[:limit])
        return shapes.Errors(count=len(found), errors=found)

    def get_execution(
        self,
        execution_id: Annotated[str, Field(min_length=1, max_length=255, description=(
            "The execution's id as its source names it (execution_id in results); unique per workflow."))],
        workflow_id: Annotated[Optional[str], Field(min_length=1, max_length=255, description=(
            "The execution's workflow: needed only when two workflows have an execution of this id."))] = None,
        source: Source = None,
    ) -> shapes.ExecutionDetail:
        """One execution: its record, its per-node logs in the order they ran (node, step, duration,
        level, message), its errors and its performance record."""
        principal = self.principal()
        execution = self.execution(principal, execution_id, workflow_id, source)
        logs = queries.records("logs", principal).filter(execution=execution).order_by("timestamp", "pk")
        total = logs.count()
        errors = queries.records("errors", principal).filter(execution=execution)
        performance = queries.records("performance", principal).filter(execution=execution).first()
        return shapes.ExecutionDetail(
            execution=serialize("execution", execution),
            logs=serialize_many("log", logs[:MAX_EXECUTION_LOGS]),
            logs_total=total,
            logs_truncated=total > MAX_EXECUTION_LOGS,
            errors=serialize_many("error", errors),
            performance=serialize("performance", performance) if performance else None,
        )

    def get_live_status(self, workflow_id: WorkflowId, source: Source = None) -> shapes.LiveStatusResult:
        """The live status of a workflow's latest execution: state, progress, current step, elapsed
        and estimated remaining time (ms), error and warning counts, recent logs."""
        principal = self.principal()
        status = queries.live_status(self.workflow(principal, workflow_id, source))
        return shapes.LiveStatusResult(workflow_id=workflow_id, ever_ran=status is not None, live_status=status)

    def get_dashboard_summary(
        self,
        workflow_id: OptionalWorkflowId = None,
        period: Annotated[Literal[tuple(queries.PERIODS)], Field(
            description="The period before now that executions, errors and alerts are counted in.")] = "24h",
    ) -> shapes.DashboardResult:
        """The dashboard summary of the team (or one workflow) over a period: executions,
        success rate, errors, alerts, average duration, system health, recent activity, and time
        saved (successful runs times each workflow's minutes saved per run)."""
        principal = self.principal()
        workflows = self.workflows(principal, workflow_id)
        start, end = queries.period_bounds(period)
        # The team as a whole includes its alerts of no workflow (infrastructure alerts).
        team_slug = None if workflows is not None else self.token.team.slug
        summary = queries.dashboard(principal, workflows, start, end, team_slug=team_slug)
        summary["time_saved"] = time_saved.dashboard_block(principal, workflows, team_slug, start, end)
        return shapes.DashboardResult(team=self.token.team.slug, workflow_id=workflow_id, dashboard=summary)

    def get_node_stats(
        self,
        workflow_id: WorkflowId,
        days: Annotated[int, Field(ge=node_stats.MIN_DAYS, le=node_stats.MAX_DAYS, description=(
            "The window before now; each node is compared with the window before it."))] = node_stats.DEFAULT_DAYS,
        source: Source = None,
    ) -> shapes.NodeStats:
        """Per-node statistics of a workflow over the last days, as its workflow page shows them:
        per node, runs, p50 and p95 duration (ms), failure share (0 to 1), and the change against
        the window before — the most failing nodes first, then the slowest."""
        principal = self.principal()
        return node_stats.node_stats(self.workflow(principal, workflow_id, source), days=days)

    def list_alerts(
        self,
        unacknowledged_only: Annotated[bool, Field(description="Leave out alerts somebody acknowledged.")] = False,
        status: Annotated[Optional[Literal[tuple(AlertStatus.values)]], Field(
            description="firing (not resolved) or resolved; both if not given.")] = None,
        limit: Limit = 50,
    ) -> shapes.Alerts:
        """The team's alerts, newest first: type, severity, title, firing or resolved,
        acknowledged, occurrences, first and last seen."""
        principal = self.principal()
        rows = queries.records("alerts", principal, team_slug=self.token.team.slug,
                               acknowledged=False if unacknowledged_only else None, status=status)
        found = serialize_many("alert", rows[:limit])
        return shapes.Alerts(count=len(found), alerts=found)

    def get_error_groups(
        self,
        workflow_id: OptionalWorkflowId = None,
        status: Annotated[Optional[Literal[tuple(ErrorGroupStatus.values)]], Field(
            description="open, resolved or ignored; every status if not given.")] = None,
        limit: Limit = 50,
    ) -> shapes.ErrorGroups:
        """The team's error groups (each error of a workflow, however often it occurred), latest
        occurrence first: title, node, error type and code, occurrences, affected executions,
        first and last seen, status and whether a new occurrence reopened it after it was
        resolved (regressed)."""
        principal = self.principal()
        rows = error_groups.search_groups(principal, status=[status] if status else None,
                                          workflows=self.workflows(principal, workflow_id))
        found = serialize_many("error_group", rows[:limit])
        return shapes.ErrorGroups(count=len(found), error_groups=found)


TOOLS = [
    "get_recent_executions", "get_execution_errors", "get_execution", "get_live_status",
    "get_dashboard_summary", "get_node_stats", "list_alerts", "get_error_groups",
]


def build_server(token: ServiceToken) -> MCPServer:
    """An MCP server whose tools read the token's team's data."""
    tools = TeamTools(token)
    server = MCPServer(
        name="flowtower",
        title="Flowtower",
        instructions=(f"Read-only monitoring data of the Flowtower team '{token.team.slug}': workflow "
                      "executions, their per-node logs and errors, live status, dashboard, per-node "
                      "statistics and alerts. Times are ISO 8601 in UTC; durations in milliseconds."),
    )
    for name in TOOLS:
        server.add_tool(_bound(getattr(tools, name)), name=name, annotations=READ_ONLY, structured_output=True)
    return server


def _bound(method):
    """A plain function with the method's signature and docstring (the SDK reads its arguments and
    result from them). The SDK runs it in a worker thread: its database connection is given back
    after the call rather than held between calls."""
    @functools.wraps(method)
    def tool(**kwargs):
        close_old_connections()
        try:
            return method(**kwargs)
        finally:
            connection.close()
    return tool
