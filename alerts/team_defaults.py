"""The alert rules every team starts with, so that what nobody would want to miss alerts without
setup: today one, "Error regressions" (an error someone resolved came back), covering all the
team's workflows. A team may disable, narrow or delete it like any rule; it is added once, when
the team is created (migration 0003 added it to the teams that existed then)."""

from .models import AlertRule

DEFAULT_RULES = ({"name": "Error regressions", "kind": "regression", "params": {}},)


def add_default_rules(team):
    """The team's default rules, created enabled and team-wide."""
    return [AlertRule.objects.create(team=team, **fields) for fields in DEFAULT_RULES]


def on_team_saved(sender, instance, created, raw=False, **kwargs):
    # post_save of Team: a new team (not one loaded from a fixture) gets its default rules.
    if created and not raw:
        add_default_rules(instance)
