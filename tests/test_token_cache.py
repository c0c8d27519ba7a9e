"""Service tokens are kept a few seconds in Redis (monitoring/api/token_cache.py), so a request does
not query PostgreSQL for its token; a revoked or deleted token is refused on the very next request,
however it was revoked, in every process (the cache is the shared Redis)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitoring.api import token_cache
from monitoring.models import ServiceToken, Team, hash_token
from n8n_mirror.hook_tokens import new_hook_token
from n8n_mirror.models import N8nInstance

URL = "/api/v1/logs/"


def token_queries(client):
    """The queries of the token table one request makes."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL).status_code == 200
    return [q["sql"] for q in queries.captured_queries if 'FROM "monitoring_servicetoken"' in q["sql"]]


def refused(client):
    r = client.get(URL)
    return r.status_code == 401 and "revoked" in r.json()["detail"]


@pytest.fixture
def issued(team):
    return ServiceToken.issue(team, "cached")


@pytest.fixture
def cached_client(issued, client_for):
    """A client whose token is in the cache (its first request read it from the database)."""
    client = client_for(issued[1])
    assert len(token_queries(client)) == 1
    return client


def test_a_token_is_read_from_the_database_once_then_from_the_cache(cached_client):
    assert token_queries(cached_client) == []
    assert token_queries(cached_client) == []


def test_a_token_revoked_by_a_save_is_refused_on_the_next_request(cached_client, issued):
    token = issued[0]
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])  # as the admin's revoke action does
    assert refused(cached_client)


def test_a_token_revoked_through_revoke_is_refused_on_the_next_request(cached_client, issued):
    assert token_cache.revoke(ServiceToken.objects.filter(pk=issued[0].pk)) == 1
    assert refused(cached_client)
    assert token_cache.revoke(ServiceToken.objects.filter(pk=issued[0].pk)) == 0  # already revoked


def test_a_deleted_token_or_team_is_refused_on_the_next_request(cached_client, issued, team, client_for):
    issued[0].delete()
    assert cached_client.get(URL).status_code == 401
    other = client_for(ServiceToken.issue(team, "other")[1])
    assert len(token_queries(other)) == 1
    Team.objects.filter(pk=team.pk).get().delete()
    assert other.get(URL).status_code == 401


def test_a_request_that_read_the_token_before_it_was_revoked_cannot_cache_it_again(issued, client_for):
    """The race: a request reads the active token, the token is revoked, the request then caches
    what it read. The revoked marker wins; the next request is refused."""
    read_before = ServiceToken.objects.select_related("team").get(pk=issued[0].pk)
    token_cache.revoke(ServiceToken.objects.filter(pk=issued[0].pk))
    token_cache.remember(read_before)
    assert token_cache.cached(hash_token(issued[1])) is None
    assert refused(client_for(issued[1]))


def test_a_replaced_n8n_hook_token_is_refused_on_the_next_request(team, client_for):
    instance = N8nInstance.objects.create(team=team, name="n8n", api_url="https://n8n.example.com")
    first = client_for(new_hook_token(instance))
    assert len(token_queries(first)) == 1 and token_queries(first) == []  # now cached
    new_hook_token(instance)
    assert refused(first)


def test_a_renamed_team_is_seen_on_the_next_request(cached_client, issued, team):
    team.name = "Renamed"
    team.save()
    assert token_cache.cached(issued[0].token_hash) is None
    assert len(token_queries(cached_client)) == 1


def test_last_used_is_still_recorded(issued, client_for):
    assert issued[0].last_used_at is None
    client_for(issued[1]).get(URL)
    issued[0].refresh_from_db()
    assert issued[0].last_used_at is not None
