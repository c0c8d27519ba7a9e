"""The Celery app. Periodic schedules live in the database (django-celery-beat) so super admins
edit them in Django admin; the default ones are created by a data migration."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("flowtower")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# --- logging: worker and beat log through Django's LOGGING (JSON lines on stdout in production) -------
# Connecting setup_logging tells Celery to leave logging alone (no handlers of its own on the root
# logger, in the worker and in beat alike); LOGGING is applied here so that holds however the process
# starts. task_prerun / task_postrun give each task's log lines its name and id (monitoring.log_context).
from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun  # noqa: E402


@setup_logging.connect
def use_django_logging(loglevel=None, **kwargs):
    import logging

    from django.conf import settings

    from monitoring.log_context import configure

    configure(settings.LOGGING)
    # The level: LOG_LEVEL when the environment (or .env) sets it, else Celery's own --loglevel
    # (default WARNING), so `celery worker --loglevel=...` keeps working as Celery documents it.
    if loglevel and "LOG_LEVEL" not in os.environ:
        logging.getLogger().setLevel(loglevel)


def _connect_task_context():
    from monitoring import log_context

    before_task_publish.connect(log_context.on_before_task_publish, weak=False)
    task_prerun.connect(log_context.on_task_prerun, weak=False)
    task_postrun.connect(log_context.on_task_postrun, weak=False)


_connect_task_context()
