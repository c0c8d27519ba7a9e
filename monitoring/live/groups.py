"""Channel-layer group names. Events go only to the groups of the team and workflow they belong
to; a socket joins only groups its user may see, so nothing is filtered after the fact."""

ALL_TEAMS = "flowtower.all"  # super admins see every team


def team_group(team_id: int) -> str:
    return f"flowtower.team.{team_id}"


def workflow_group(workflow_pk: int) -> str:
    return f"flowtower.workflow.{workflow_pk}"
