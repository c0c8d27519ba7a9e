"""README, "Configuration": after FLOWTOWER_LOGIN_FAILURE_LIMIT (10) failed sign-ins for one
username from one address, that username is locked out from that address (429) for
FLOWTOWER_LOGIN_COOLOFF_MINUTES (15). The pair is what is locked: neither the user everywhere (a
stranger could lock anyone out) nor the address for everyone."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone

PASSWORD = "pw-not-used-1234"  # conftest's make_user
LIMIT, COOLOFF = 10, timedelta(minutes=15)  # the documented defaults


def sign_in(address, username, password=PASSWORD):
    return Client(REMOTE_ADDR=address).post("/login/", {"username": username, "password": password})


def fail(address, username, times):
    """`times` failed sign-ins; the one that reaches the limit is answered with the lockout."""
    for n in range(1, times + 1):
        assert sign_in(address, username, "wrong").status_code == (429 if n >= LIMIT else 200)


@pytest.fixture
def users(team, make_user):
    make_user("mia", team, "member")
    make_user("max", team, "member")


def test_nine_failures_do_not_lock(users):
    fail("10.0.0.1", "mia", LIMIT - 1)
    assert sign_in("10.0.0.1", "mia").status_code == 302


def test_the_tenth_failure_locks(users):
    fail("10.0.0.1", "mia", LIMIT)
    assert sign_in("10.0.0.1", "mia").status_code == 429  # even with the right password


def test_lockout_is_per_username_and_address(users):
    fail("10.0.0.1", "mia", LIMIT)
    assert sign_in("10.0.0.1", "mia").status_code == 429
    assert sign_in("10.0.0.2", "mia").status_code == 302  # mia elsewhere
    assert sign_in("10.0.0.1", "max").status_code == 302  # someone else at that address


def test_failures_from_several_addresses_do_not_add_up(users):
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        fail(address, "mia", LIMIT - 1)
    assert sign_in("10.0.0.1", "mia").status_code == 302


def test_failures_for_several_usernames_do_not_add_up(users):
    fail("10.0.0.1", "mia", LIMIT - 1)
    fail("10.0.0.1", "max", LIMIT - 1)
    assert sign_in("10.0.0.1", "mia").status_code == 302


def locked_for(elapsed):
    """Lock mia out from one address, let `elapsed` pass, and report whether she is still locked."""
    fail("10.0.0.1", "mia", LIMIT)
    AccessAttempt.objects.update(attempt_time=timezone.now() - elapsed)
    return sign_in("10.0.0.1", "mia").status_code == 429


def test_still_locked_just_before_the_cool_off_ends(users):
    assert locked_for(COOLOFF - timedelta(seconds=30))


def test_unlocked_just_after_the_cool_off(users):
    assert not locked_for(COOLOFF + timedelta(seconds=30))
