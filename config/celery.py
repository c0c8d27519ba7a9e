"""The Celery app. Periodic schedules live in the database (django-celery-beat) so super admins
edit them in Django admin; the default ones are created by a data migration."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("flowtower")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
