"""The retention task's default schedule, stored in the database (django-celery-beat) so super
admins can change or disable it in admin: every day at 03:17 UTC."""

from django.db import migrations

TASK_NAME = "Retention: prune old monitoring data"


def create(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="17", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME, defaults={"task": "monitoring.tasks.prune_old_data", "crontab": crontab}
    )


def drop(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0002_gin_indexes"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(create, drop)]
