"""The `workflow` label, capped per team (FLOWTOWER_METRICS_MAX_WORKFLOWS, default 100).

A team's first N workflows by creation (primary key order) are labelled with their workflow id;
later ones are counted as workflow="other". The rule depends on the database alone, so every web
process and worker labels a workflow the same way. A workflow inside the cap stays inside
(deleting workflows only moves later ones up), so that answer is remembered; "other" is asked
again, one indexed COUNT per workflow per write."""

from django.conf import settings

OTHER = "other"

_within_cap = set()  # workflow pks known to be among their team's first N


def workflow_label(workflow):
    if workflow.pk in _within_cap:
        return workflow.external_id
    from monitoring.models import Workflow

    older = Workflow.objects.filter(team_id=workflow.team_id, pk__lt=workflow.pk).count()
    if older < settings.FLOWTOWER_METRICS_MAX_WORKFLOWS:
        _within_cap.add(workflow.pk)
        return workflow.external_id
    return OTHER


def forget():
    """Drop what was remembered (tests change the cap)."""
    _within_cap.clear()
