"""ASGI entry point: HTTP through Django, websockets through Channels (session auth, and only
from the allowed hosts' origins)."""

import os

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from monitoring.live.routing import websocket_urlpatterns  # noqa: E402  (needs Django set up)

from . import http_limits, startup_checks  # noqa: E402

http_limits.install()
startup_checks.require_collected_static_files()  # before serving: a clear error, not a 500 per page

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
