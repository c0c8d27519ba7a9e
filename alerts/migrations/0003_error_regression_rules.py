"""The "regression" rule kind (an error group someone resolved occurred again), and for every team
that has no rule of that kind yet, the default one new teams get (alerts.team_defaults):
"Error regressions", enabled, covering all the team's workflows. Reversing removes the team-wide
rules of that kind and name."""

from django.db import migrations, models

NAME, KIND = "Error regressions", "regression"


def add(apps, schema_editor):
    Team = apps.get_model("monitoring", "Team")
    AlertRule = apps.get_model("alerts", "AlertRule")
    covered = AlertRule.objects.filter(kind=KIND).values("team_id")
    AlertRule.objects.bulk_create(
        AlertRule(team=team, name=NAME, kind=KIND, params={}) for team in Team.objects.exclude(pk__in=covered)
    )


def remove(apps, schema_editor):
    AlertRule = apps.get_model("alerts", "AlertRule")
    AlertRule.objects.filter(kind=KIND, name=NAME, workflow=None, tag="").delete()


class Migration(migrations.Migration):
    dependencies = [("alerts", "0002_evaluation_schedules"), ("monitoring", "0011_error_groups_and_time_saved")]
    operations = [
        migrations.AlterField(
            model_name="alertrule",
            name="kind",
            field=models.CharField(choices=[
                ("execution_failed", "Execution failed"), ("error_rate", "Error rate"), ("slow", "Slow execution"),
                ("stuck", "Stuck execution"), ("no_executions", "No executions (dead-man switch)"),
                ("error_severity", "Error severity"), ("resource", "Resource usage"),
                ("deactivated", "Workflow deactivated"), ("regression", "Error regression"),
            ], max_length=32),
        ),
        migrations.RunPython(add, remove),
    ]
