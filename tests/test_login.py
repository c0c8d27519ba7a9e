"""Sign-in: the login page works, and repeated failures lock that username out from that address."""

from django.test import Client, override_settings


def attempt(client, username, password):
    return client.post("/login/", {"username": username, "password": password})


def test_sign_in_and_out(team, make_user):
    make_user("mia", team, "member")
    c = Client()
    r = attempt(c, "mia", "pw-not-used-1234")
    assert r.status_code == 302 and r["Location"] == "/"
    assert c.get("/").status_code == 200
    c.post("/logout/")
    assert c.get("/").status_code == 302


def test_wrong_password_is_refused(team, make_user):
    make_user("mia", team, "member")
    r = attempt(Client(), "mia", "wrong")
    assert r.status_code == 200 and b"didn't match" in r.content


@override_settings(AXES_FAILURE_LIMIT=3)
def test_repeated_failures_lock_the_account_from_that_address(team, make_user):
    make_user("mia", team, "member")
    make_user("max", team, "member")
    c = Client()
    for _ in range(3):
        attempt(c, "mia", "wrong")
    r = attempt(c, "mia", "pw-not-used-1234")  # even the right password, while locked
    assert r.status_code == 429
    assert c.get("/").status_code == 302
    # Another username is not locked by mia's failures.
    assert attempt(Client(), "max", "pw-not-used-1234").status_code == 302
