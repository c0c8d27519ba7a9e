"""The MCP server's get_error_groups tool: the token's team's groups only, latest first, filtered
by status and workflow, in the REST API's shape."""

import pytest
from mcp.server.mcpserver.exceptions import ToolError

from monitoring.error_groups import resolve_group
from monitoring.ingest import ingest
from monitoring.mcp.server import TeamTools
from monitoring.models import ErrorGroup, ServiceToken
from monitoring.serializers import serialize


def _seed(team, workflow, message):
    ingest(team, {"error": [{"workflow_id": workflow, "execution_id": f"{workflow}-1", "error_type": "network",
                             "error_message": message, "severity": "high"}]})
    return ErrorGroup.objects.get(team=team, workflow__external_id=workflow)


@pytest.mark.django_db
def test_the_teams_groups_filtered(team, other_team):
    older = _seed(team, "wf-a", "connect ECONNREFUSED 10.0.0.1:443")
    newer = _seed(team, "wf-b", "Invalid payload: missing customer_id [line 3]")
    _seed(other_team, "wf-a", "theirs")
    tools = TeamTools(ServiceToken.issue(team, "mcp")[0])
    answer = tools.get_error_groups()
    assert [g.id for g in answer.error_groups] == [newer.pk, older.pk] and answer.count == 2
    assert answer.error_groups[0].model_dump(mode="json")["title"] == serialize("error_group", newer)["title"]
    assert [g.id for g in tools.get_error_groups(workflow_id="wf-a").error_groups] == [older.pk]
    resolve_group(older, "alice")
    assert [g.id for g in tools.get_error_groups(status="resolved").error_groups] == [older.pk]
    assert tools.get_error_groups(limit=1).count == 1
    with pytest.raises(ToolError, match="workflow_id"):
        tools.get_error_groups(workflow_id="nope")
