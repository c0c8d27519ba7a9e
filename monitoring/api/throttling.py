"""Rate limits per service token and per signed-in user; DRF answers 429 with Retry-After."""

from rest_framework.throttling import SimpleRateThrottle

from ..models import ServiceToken


class ServiceTokenThrottle(SimpleRateThrottle):
    scope = "service_token"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ServiceToken):
            return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
        return None


class UserThrottle(SimpleRateThrottle):
    scope = "user"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ServiceToken) or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}
