"""The alerting engine's default schedules, stored in the database (django-celery-beat) so super
admins can change or disable them in admin: the window rule pass and the notification pass
(repeats, escalation, silences that ended), each every minute."""

from django.db import migrations

SCHEDULES = {
    "Alerting: evaluate window rules": "alerts.tasks.evaluate_window_rules",
    "Alerting: notification pass": "alerts.tasks.notification_pass",
}


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    for name, task in SCHEDULES.items():
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "interval": every_minute})


def drop(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=SCHEDULES).delete()


class Migration(migrations.Migration):
    dependencies = [("alerts", "0001_alerting_engine"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(create, drop)]
