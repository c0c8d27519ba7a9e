"""Service tokens found by hash, kept briefly in the shared cache (Redis), so that an API request
does not query PostgreSQL for its token every time.

Revocation takes effect at once, in every process: saving or deleting a token (the admin's revoke
action, a deleted team's tokens) or revoking through `revoke()` writes a "revoked" marker under the
token's hash, which outranks the cache for TOKEN_CACHE_SECONDS, and entries are only ever added
where no entry or marker exists (Redis SET NX), so a request that read the token just before it
was revoked cannot put it back. A token changed by a bare queryset.update() elsewhere would be
served from the cache for at most TOKEN_CACHE_SECONDS: revoke through `revoke()`.

Without a Redis cache (the demo's local memory cache is per process and cannot be invalidated
everywhere) or while Redis is unreachable, every request reads the database, as before."""

import logging

from django.core.cache.backends.redis import RedisCache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from ..models import ServiceToken, Team
from ..outages import CACHE_ERRORS

logger = logging.getLogger(__name__)

# How long a token read from the database answers from the cache. It bounds how stale a cached
# token's other fields (name, team) can be, and makes last_used_at (updated on database reads only)
# precise to about LAST_USED_RESOLUTION + this.
TOKEN_CACHE_SECONDS = 10
REVOKED = "revoked"


def _key(token_hash):
    return f"flowtower:token:{token_hash}"


def _cache():
    """The process' shared Redis cache client, or None (local memory cache, or Redis known down)."""
    from .throttling import _counter_cache  # one client and one outage flag for both

    cache = _counter_cache()
    return cache if isinstance(cache, RedisCache) else None


def _failed(exc):
    from .throttling import _shared_cache_failed

    _shared_cache_failed(exc)


def cached(token_hash):
    """The cached active token with that hash, or None (not cached, revoked marker, no Redis)."""
    cache = _cache()
    if cache is None:
        return None
    try:
        token = cache.get(_key(token_hash))
    except CACHE_ERRORS as exc:
        _failed(exc)
        return None
    return token if isinstance(token, ServiceToken) else None


def remember(token):
    """Cache an active token just read from the database, unless an entry or a revoked marker is
    already there (add = SET NX)."""
    cache = _cache()
    if cache is None or not token.is_active:
        return
    try:
        cache.add(_key(token.token_hash), token, TOKEN_CACHE_SECONDS)
    except CACHE_ERRORS as exc:
        _failed(exc)


def forget(token_hashes):
    """Mark these tokens revoked in the cache: the next request with one reads the database. Done
    now and again after the transaction commits (a marker written now could expire before a long
    transaction ends; the database answers the truth after it)."""
    keys = [_key(h) for h in token_hashes]
    if not keys:
        return

    def mark():
        cache = _cache()
        if cache is None:
            return
        try:
            cache.set_many(dict.fromkeys(keys, REVOKED), TOKEN_CACHE_SECONDS)
        except CACHE_ERRORS as exc:
            # Unreachable Redis serves no cached token either (cached() then reads the database).
            _failed(exc)

    mark()
    transaction.on_commit(mark)


def revoke(queryset):
    """Revoke the tokens of a queryset in one UPDATE, effective at once in every process."""
    hashes = list(queryset.filter(revoked_at__isnull=True).values_list("token_hash", flat=True))
    count = queryset.filter(token_hash__in=hashes).update(revoked_at=timezone.now())
    forget(hashes)
    return count


def _token_changed(sender, instance, created=False, **kwargs):
    if not created:  # a new token cannot be cached yet
        forget([instance.token_hash])


def _team_changed(sender, instance, **kwargs):
    # Cached tokens carry their team (a renamed team, a deleted one).
    forget(ServiceToken.objects.filter(team_id=instance.pk).values_list("token_hash", flat=True))


def connect():
    """From MonitoringConfig.ready: any save or delete of a token or team, however it is made."""
    post_save.connect(_token_changed, sender=ServiceToken, dispatch_uid="flowtower.token_cache.token_saved")
    post_delete.connect(_token_changed, sender=ServiceToken, dispatch_uid="flowtower.token_cache.token_deleted")
    post_save.connect(_team_changed, sender=Team, dispatch_uid="flowtower.token_cache.team_saved")
