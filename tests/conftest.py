import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework.test import APIClient

from monitoring.models import Membership, ServiceToken, Team

URL = "/api/workflows/monitoring"


@pytest.fixture(autouse=True)
def _clear_cache():
    # Throttle counters live in the (real Redis) cache; each test starts from zero.
    cache.clear()
    yield


@pytest.fixture
def make_team(db):
    def make(slug="acme", name=None):
        return Team.objects.get_or_create(slug=slug, defaults={"name": name or slug.title()})[0]

    return make


@pytest.fixture
def team(make_team):
    return make_team("acme")


@pytest.fixture
def other_team(make_team):
    return make_team("globex")


@pytest.fixture
def make_user(db):
    def make(username, team=None, role=None, superuser=False):
        User = get_user_model()
        user = User.objects.create_user(username, password="pw-not-used-1234", is_staff=True, is_superuser=superuser)
        if team is not None:
            Membership.objects.create(team=team, user=user, role=role)
        return user

    return make


@pytest.fixture
def client_for():
    """An API client signed in as a user, or carrying a service token."""

    def make(who):
        client = APIClient()
        if isinstance(who, str):
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {who}")
        elif who is not None:
            client.force_authenticate(who)
        return client

    return make


@pytest.fixture
def token(team):
    return ServiceToken.issue(team, "ci")[1]


@pytest.fixture
def api(client_for, token):
    """A client with the acme team's service token."""
    return client_for(token)
