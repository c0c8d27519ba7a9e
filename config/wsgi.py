"""WSGI entry point (the ASGI one, config.asgi, is what the README runs: Daphne, with websockets)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

from . import startup_checks  # noqa: E402  (needs Django set up)

startup_checks.require_collected_static_files()  # before serving: a clear error, not a 500 per page
