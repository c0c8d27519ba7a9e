"""/api/v1/deliveries/: every attempt to send a notification, read-only, for everyone who reads
the team (tokens too), filtered by alert, channel, status and event; another team's are not found."""

import pytest

from alerts.models import Channel, Delivery
from alerting_api_world import EVERYONE, OUTSIDERS, READERS, ids, people, read_status  # noqa: F401
from monitoring.services import raise_alert

URL = "/api/v1/deliveries/"


@pytest.fixture
def world(team, other_team):
    alert, _ = raise_alert(team, fingerprint="f1", alert_type="error", severity="critical", title="Billing failed")
    other_alert, _ = raise_alert(team, fingerprint="f2", alert_type="error", severity="warning", title="Slow")
    ops = Channel.objects.create(team=team, name="ops", kind="log")
    pager = Channel.objects.create(team=team, name="pager", kind="log")
    theirs = Channel.objects.create(team=other_team, name="theirs", kind="log")
    return {
        "alert": alert, "other_alert": other_alert, "ops": ops, "pager": pager,
        "sent": Delivery.objects.create(alert=alert, channel=ops, event="firing", status="sent", response_code=200),
        "retry": Delivery.objects.create(alert=alert, channel=pager, event="firing", status="retrying",
                                         response_code=503, error="the receiver answered 503"),
        "other": Delivery.objects.create(alert=other_alert, channel=ops, event="resolved", status="sent"),
        "theirs": Delivery.objects.create(channel=theirs, event="test", status="failed"),
    }


@pytest.mark.parametrize("who", EVERYONE)
def test_who_sees_which_deliveries(people, who, world):
    listed = ids(people[who].get(URL))
    assert (world["sent"].pk in listed) == (who in READERS)
    assert (world["theirs"].pk in listed) == (who in OUTSIDERS or who == "superuser")
    assert people[who].get(f"{URL}{world['sent'].pk}/").status_code == read_status(who)


def test_a_delivery_says_what_happened(people, world):
    body = people["token_a"].get(f"{URL}{world['retry'].pk}/").json()
    assert body["alert"] == str(world["alert"].pk) and body["channel"] == world["pager"].pk
    assert (body["channel_name"], body["team"], body["event"], body["attempt"]) == ("pager", "acme", "firing", 1)
    assert (body["status"], body["response_code"], body["error"]) == ("retrying", 503, "the receiver answered 503")


def test_filters(people, world):
    reader = people["viewer_a"]
    assert ids(reader.get(URL, {"alert": str(world["alert"].pk)})) == {world["sent"].pk, world["retry"].pk}
    assert ids(reader.get(URL, {"channel": world["ops"].pk})) == {world["sent"].pk, world["other"].pk}
    assert ids(reader.get(URL, {"status": "retrying"})) == {world["retry"].pk}
    assert ids(reader.get(URL, {"event": "resolved"})) == {world["other"].pk}
    assert ids(reader.get(URL, {"channel": world["ops"].pk, "event": "firing"})) == {world["sent"].pk}
    # Another team's channel: nothing, not an error that would tell it exists.
    assert ids(reader.get(URL, {"channel": world["theirs"].channel_id})) == set()


@pytest.mark.parametrize("params", [{"alert": "not-a-uuid"}, {"channel": "ops"}, {"channel": 2**31},
                                    {"status": "lost"}, {"event": "party"}])
def test_bad_filters_are_400s_naming_the_filter(people, world, params):
    r = people["viewer_a"].get(URL, params)
    assert r.status_code == 400 and list(params)[0] in r.json()


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_deliveries_are_read_only_even_for_admins(people, world, method):
    url = URL if method == "post" else f"{URL}{world['sent'].pk}/"
    assert getattr(people["superuser"], method)(url, {}, format="json").status_code == 405
