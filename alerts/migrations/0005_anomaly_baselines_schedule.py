"""The anomaly rules' baselines for the coming hour, computed at minute 50 of every hour (UTC), so
the first window pass of the hour reads them from the cache. Stored in the database (django-celery-beat)
like the other schedules, so super admins can change or disable it in admin."""

from django.db import migrations

TASK_NAME = "Alerting: prepare the next hour's anomaly baselines"


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="50", hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME, defaults={"task": "alerts.tasks.prepare_anomaly_baselines", "crontab": crontab}
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("alerts", "0004_anomaly_rule_kind"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(schedule, unschedule)]
