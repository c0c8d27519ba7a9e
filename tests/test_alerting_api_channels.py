"""/api/v1/channels/: team admins manage their team's channels and send tests; the rest of the team
and its service tokens read them. Secrets (webhook URLs, keys, tokens) are taken on writes and
never answered back: people see them masked, tokens not at all. A test notification goes out at
once to a real HTTP receiver and is answered (and recorded) as a delivery."""

import json

import pytest

from alerts.channels.webhook import generate_signing_secret
from alerts.delivery import masked_secrets
from alerts.models import Channel, Delivery
from alerting_api_world import EVERYONE, OUTSIDERS, READERS, ids, people, read_status, write_status  # noqa: F401
from monitoring.crypto import decrypt_json

URL = "/api/v1/channels/"
HOOK_PATH = "/hooks/T0SECRET/B0SECRET/very-secret-path-0123456789"


@pytest.fixture
def hook(httpserver):
    """A webhook receiver: the URL (its path is the secret part) and the server."""
    httpserver.expect_request(HOOK_PATH, method="POST").respond_with_json({"ok": True})
    return httpserver.url_for(HOOK_PATH)


def webhook_body(url, name="ops-webhook"):
    return {"name": name, "kind": "webhook", "secrets": {"url": url, "signing_secret": generate_signing_secret()}}


@pytest.fixture
def channel(team):
    return Channel.objects.create(team=team, name="server log", kind="log")


@pytest.fixture
def other_channel(other_team):
    return Channel.objects.create(team=other_team, name="theirs", kind="log")


@pytest.mark.parametrize("who", EVERYONE)
def test_who_sees_a_teams_channels(people, who, channel, other_channel):
    listed = ids(people[who].get(URL))
    assert (channel.pk in listed) == (who in READERS)
    assert (other_channel.pk in listed) == (who in OUTSIDERS or who == "superuser")
    assert people[who].get(f"{URL}{channel.pk}/").status_code == read_status(who)


@pytest.mark.parametrize("who", EVERYONE)
def test_only_team_admins_create_change_and_delete_channels(people, who, channel):
    r = people[who].post(f"{URL}?team=acme", {"name": "another log", "kind": "log"}, format="json")
    assert r.status_code == write_status(who, 201), r.content
    r = people[who].patch(f"{URL}{channel.pk}/", {"enabled": False}, format="json")
    assert r.status_code == write_status(who, 200), r.content
    r = people[who].delete(f"{URL}{channel.pk}/")
    assert r.status_code == write_status(who, 204)
    assert Channel.objects.filter(pk=channel.pk).exists() == (r.status_code != 204)


def test_secrets_are_stored_encrypted_and_never_answered(people, hook):
    body = webhook_body(hook)
    r = people["admin_a"].post(URL, body, format="json")
    assert r.status_code == 201, r.content
    stored = Channel.objects.get(pk=r.json()["id"])
    assert HOOK_PATH not in stored.secrets  # encrypted at rest
    assert decrypt_json(stored.secrets) == body["secrets"]
    for who in ("admin_a", "viewer_a", "superuser", "token_a"):
        for answer in (people[who].get(f"{URL}{stored.pk}/"), people[who].get(URL)):
            text = answer.content.decode()
            assert "very-secret-path" not in text and body["secrets"]["signing_secret"] not in text, who
    shown = people["admin_a"].get(f"{URL}{stored.pk}/").json()["secrets"]
    assert set(shown) == {"url", "signing_secret"} and shown == masked_secrets(stored)
    # Tokens are for services: not even the masked form.
    assert set(people["token_a"].get(f"{URL}{stored.pk}/").json()["secrets"].values()) == {"********"}
    assert "very-secret-path" not in r.content.decode()  # nor in the answer to the create itself


def test_secrets_change_by_name_and_a_masked_value_sent_back_keeps_the_secret(people, hook, httpserver):
    created = people["admin_a"].post(URL, webhook_body(hook), format="json").json()
    channel = Channel.objects.get(pk=created["id"])
    original = decrypt_json(channel.secrets)
    # A client that sends back what it read (masked values) changes nothing.
    r = people["admin_a"].put(f"{URL}{channel.pk}/", {"name": "renamed", "kind": "webhook",
                                                      "secrets": created["secrets"], "config": {}}, format="json")
    assert r.status_code == 200, r.content
    channel.refresh_from_db()
    assert decrypt_json(channel.secrets) == original and channel.name == "renamed"
    # Only the given secret changes; a PATCH without secrets keeps them.
    new_url = httpserver.url_for("/hooks/rotated")
    r = people["admin_a"].patch(f"{URL}{channel.pk}/", {"secrets": {"url": new_url}}, format="json")
    assert r.status_code == 200, r.content
    people["admin_a"].patch(f"{URL}{channel.pk}/", {"enabled": False}, format="json")
    channel.refresh_from_db()
    assert decrypt_json(channel.secrets) == {**original, "url": new_url}
    # Removing a secret the kind requires is refused, naming it; the stored ones stay.
    r = people["admin_a"].patch(f"{URL}{channel.pk}/", {"secrets": {"signing_secret": None}}, format="json")
    assert r.status_code == 400 and "signing_secret" in r.json()["secrets"]
    r = people["admin_a"].patch(f"{URL}{channel.pk}/", {"secrets": {"signing_secret": ""}}, format="json")
    assert r.status_code == 400 and "signing_secret" in r.json()["secrets"]
    channel.refresh_from_db()
    assert decrypt_json(channel.secrets) == {**original, "url": new_url}


@pytest.mark.parametrize("body, field", [
    ({"name": "w", "kind": "webhook", "secrets": {"url": "not a url", "signing_secret": "whsec_AAAA"}}, "secrets"),
    ({"name": "w", "kind": "webhook", "secrets": {}}, "secrets"),
    ({"name": "w", "kind": "carrier-pigeon"}, "kind"),
    ({"name": "w", "kind": "log", "config": {"colour": "red"}}, "config"),
    ({"name": "w", "kind": "log", "config": ["x"]}, "config"),
    ({"name": "w", "kind": "log", "config": {"a\x00": 1}}, "config"),
    ({"name": "w", "kind": "log", "secrets": "hunter2"}, "secrets"),
    ({"name": "w", "kind": "log", "secrets": {"token": 5}}, "secrets"),
    ({"name": "", "kind": "log"}, "name"),
    ({"name": "w", "kind": "log", "failing": True}, "failing"),
])
def test_bad_channels_are_400s_naming_the_field(people, body, field):
    r = people["admin_a"].post(URL, body, format="json")
    assert r.status_code == 400, r.content
    assert field in r.json(), r.json()
    assert not Channel.objects.exists()


def test_a_bad_secret_is_named_within_secrets_without_echoing_it(people):
    r = people["admin_a"].post(URL, {"name": "w", "kind": "webhook",
                                     "secrets": {"url": "ftp://secret-host/x", "signing_secret": "nope"}}, format="json")
    assert r.status_code == 400
    assert set(r.json()["secrets"]) <= {"url", "signing_secret"} and r.json()["secrets"]
    assert "secret-host" not in r.content.decode()


def test_names_are_unique_per_team(people, channel, other_channel):
    r = people["admin_a"].post(URL, {"name": "server log", "kind": "log"}, format="json")
    assert r.status_code == 400 and "name" in r.json()
    # Another team may use the same name.
    assert people["admin_a"].post(URL, {"name": "theirs", "kind": "log"}, format="json").status_code == 201


@pytest.mark.parametrize("who", EVERYONE)
def test_only_team_admins_send_tests(people, who, channel):
    r = people[who].post(f"{URL}{channel.pk}/test/")
    assert r.status_code == write_status(who, 200), r.content
    assert Delivery.objects.filter(channel=channel, event="test").exists() == (r.status_code == 200)


def test_send_test_posts_to_the_receiver_and_answers_the_recorded_delivery(people, hook, httpserver):
    channel_id = people["admin_a"].post(URL, webhook_body(hook), format="json").json()["id"]
    r = people["admin_a"].post(f"{URL}{channel_id}/test/")
    assert r.status_code == 200, r.content
    delivery = Delivery.objects.get(channel_id=channel_id)
    assert r.json()["id"] == delivery.pk and r.json()["channel"] == channel_id
    assert (r.json()["event"], r.json()["status"], r.json()["response_code"]) == ("test", "sent", 200)
    (request, _), = httpserver.log
    assert request.path == HOOK_PATH and "webhook-signature" in request.headers
    assert json.loads(request.data)["type"] == "alert.test"
    # It is listed among the deliveries, filtered by channel.
    listed = people["viewer_a"].get("/api/v1/deliveries/", {"channel": channel_id}).json()["results"]
    assert [d["id"] for d in listed] == [delivery.pk]


def test_a_failing_receiver_is_a_failed_delivery_not_an_error(people, httpserver):
    httpserver.expect_request("/down", method="POST").respond_with_data("upstream exploded", status=500)
    channel_id = people["admin_a"].post(URL, webhook_body(httpserver.url_for("/down")), format="json").json()["id"]
    r = people["admin_a"].post(f"{URL}{channel_id}/test/")
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "failed" and r.json()["response_code"] == 500


def test_another_teams_channel_cannot_be_tested_or_changed(people, other_channel):
    assert people["admin_a"].post(f"{URL}{other_channel.pk}/test/").status_code == 404
    assert people["admin_a"].patch(f"{URL}{other_channel.pk}/", {"name": "x"}, format="json").status_code == 404
    assert not Delivery.objects.exists()
