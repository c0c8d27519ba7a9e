"""Service tokens: `Authorization: Bearer ft_…`. Looked up by hash; the raw value is never stored.
Found tokens are kept a few seconds in Redis (token_cache), revocation taking effect at once."""

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from ..models import TOKEN_PREFIX, ServiceToken, hash_token
from . import token_cache

# Writing last_used_at on every request would turn every read into a write; once a minute is
# precise enough to see which tokens are in use.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ServiceTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid Authorization header: expected 'Bearer <token>'.")
        try:
            raw = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not raw.startswith(TOKEN_PREFIX):
            raise exceptions.AuthenticationFailed("Invalid token.")
        digest = hash_token(raw)
        token = token_cache.cached(digest)
        if token is None:
            token = self._from_database(digest)
        return (TokenUser(token), token)

    @staticmethod
    def _from_database(digest):
        token = ServiceToken.objects.select_related("team").filter(token_hash=digest).first()
        if token is None or not token.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        # last_used_at is kept up to date on database reads, i.e. at least every
        # TOKEN_CACHE_SECONDS while the token is in use.
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ServiceToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now
        token_cache.remember(token)
        return token

    def authenticate_header(self, request):
        return 'Bearer realm="flowtower"'


class TokenUser:
    """request.user for token requests: authenticated, but not a person and never staff."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, token):
        self.token = token

    def get_username(self):
        return f"token:{self.token.name}"

    def __str__(self):
        return self.get_username()


class ServiceTokenScheme(OpenApiAuthenticationExtension):
    """Documents service tokens in the OpenAPI schema."""

    target_class = ServiceTokenAuthentication
    name = "ServiceToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "ft_…"}
