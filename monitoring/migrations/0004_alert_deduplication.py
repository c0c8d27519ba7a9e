"""Alerts gain what deduplication needs (fingerprint, occurrences, last seen, source, labels), the
silenced / inhibited marks the alerting engine sets, and a team of their own: the workflow
becomes optional, because an infrastructure alert from Alertmanager belongs to no workflow."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models
from django.db.models import F, OuterRef, Q, Subquery


def fill_team_and_last_seen(apps, schema_editor):
    Alert = apps.get_model("monitoring", "Alert")
    Workflow = apps.get_model("monitoring", "Workflow")
    Alert.objects.update(
        team_id=Subquery(Workflow.objects.filter(pk=OuterRef("workflow_id")).values("team_id")[:1]),
        last_seen_at=F("timestamp"),
    )


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0003_retention_schedule")]

    operations = [
        migrations.AddField(
            model_name="alert",
            name="team",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="alerts", to="monitoring.team"
            ),
        ),
        migrations.AddField(model_name="alert", name="fingerprint", field=models.CharField(blank=True, max_length=128)),
        migrations.AddField(
            model_name="alert",
            name="source",
            field=models.CharField(
                choices=[("posted", "Posted"), ("rule", "Alert rule"), ("alertmanager", "Alertmanager")],
                default="posted",
                max_length=16,
            ),
        ),
        migrations.AddField(model_name="alert", name="occurrences", field=models.PositiveIntegerField(default=1)),
        migrations.AddField(
            model_name="alert", name="last_seen_at", field=models.DateTimeField(default=django.utils.timezone.now)
        ),
        migrations.AddField(model_name="alert", name="labels", field=models.JSONField(blank=True, default=dict)),
        migrations.AddField(model_name="alert", name="silenced", field=models.BooleanField(default=False)),
        migrations.AddField(model_name="alert", name="inhibited", field=models.BooleanField(default=False)),
        migrations.RunPython(fill_team_and_last_seen, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="alert",
            name="team",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="alerts", to="monitoring.team"
            ),
        ),
        migrations.AlterField(
            model_name="alert",
            name="timestamp",
            field=models.DateTimeField(default=django.utils.timezone.now, help_text="First seen"),
        ),
        migrations.AlterField(
            model_name="alert",
            name="workflow",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="alerts",
                to="monitoring.workflow",
            ),
        ),
        migrations.AddIndex(
            model_name="alert", index=models.Index(fields=["team", "-timestamp"], name="alert_team_ts")
        ),
        migrations.AddIndex(
            model_name="alert",
            index=models.Index(condition=Q(resolved=False), fields=["team", "-timestamp"], name="alert_team_open"),
        ),
        migrations.AddConstraint(
            model_name="alert",
            constraint=models.UniqueConstraint(
                condition=Q(resolved=False) & ~Q(fingerprint=""),
                fields=("team", "fingerprint"),
                name="alert_one_open_per_fingerprint",
            ),
        ),
    ]
