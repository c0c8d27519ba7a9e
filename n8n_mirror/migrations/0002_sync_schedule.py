"""The n8n sync task's beat schedule, stored in the database (django-celery-beat) so super admins
can change it in admin: every 10 seconds; each instance is synced when its own interval passed."""

from django.db import migrations

TASK_NAME = "n8n mirror: sync due instances"


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=10, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME, defaults={"task": "n8n_mirror.tasks.sync_due_instances", "interval": every}
    )


def drop(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("n8n_mirror", "0001_initial"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(create, drop)]
