"""Django admin for the alerting set-up: each team sees only its own rules, channels, routes,
silences and deliveries; team admins change them, the others look; saving runs the same checks as
the API (kind params, channel settings, silence matchers, no other team's objects); channel secrets
are write-only and shown masked; "send a test notification" records a delivery."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from alerts.channels.webhook import generate_signing_secret
from alerts.models import AlertNotification, AlertRule, Channel, Delivery, Route, RuleState, Silence
from monitoring.crypto import decrypt_json
from monitoring.models import Workflow
from monitoring.services import raise_alert

HOOK_PATH = "/hooks/admin-secret-path-0123456789"


def url(model, view="changelist", *args):
    return reverse(f"admin:alerts_{model._meta.model_name}_{view}", args=args)


def login(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def users(team, make_user, other_team):
    return {"admin": make_user("ada", team, "admin"), "viewer": make_user("vera", team, "viewer"),
            "member": make_user("max", team, "member"), "root": make_user("root", superuser=True),
            "other_admin": make_user("bob", other_team, "admin")}


@pytest.fixture
def world(team, other_team):
    """One of everything in each team."""
    made = {}
    for key, t in (("a", team), ("b", other_team)):
        channel = Channel.objects.create(team=t, name=f"log-{key}", kind="log")
        rule = AlertRule.objects.create(team=t, name=f"rule-{key}", kind="execution_failed")
        alert, _ = raise_alert(t, fingerprint=f"f-{key}", alert_type="error", severity="critical", title=f"alert {key}")
        made[key] = {
            "channel": channel, "rule": rule, "alert": alert,
            "route": Route.objects.create(team=t, name=f"route-{key}", channel=channel),
            "silence": Silence.objects.create(team=t, matchers={}, ends_at="2099-01-01T00:00:00Z", comment=f"s-{key}"),
            "delivery": Delivery.objects.create(alert=alert, channel=channel, event="firing", status="sent"),
            "state": RuleState.objects.create(rule=rule, fingerprint=f"rule:{rule.pk}:team",
                                              pending_since="2026-01-01T00:00:00Z"),
            "notification": AlertNotification.objects.create(alert=alert),
        }
    return made


KINDS = ["channel", "rule", "route", "silence", "delivery", "state", "notification"]


@pytest.mark.parametrize("kind", KINDS)
def test_each_team_sees_only_its_own(users, world, kind):
    model = type(world["a"][kind])
    for who, sees in (("viewer", {"a"}), ("other_admin", {"b"}), ("root", {"a", "b"})):
        page = login(users[who]).get(url(model))
        assert page.status_code == 200
        shown = {obj.pk for obj in page.context["cl"].result_list}
        if kind == "rule":  # beside each team's default "Error regressions" rule
            shown -= set(AlertRule.objects.filter(kind="regression").values_list("pk", flat=True))
        assert shown == {world[key][kind].pk for key in sees}, who
        hidden = "b" if "b" not in sees else None
        if hidden:
            assert login(users[who]).get(url(model, "change", world[hidden][kind].pk)).status_code in (302, 404)


@pytest.mark.parametrize("kind", ["channel", "rule", "route", "silence"])
def test_viewers_and_members_look_admins_change(users, world, kind):
    obj = world["a"][kind]
    model = type(obj)
    for who in ("viewer", "member"):
        client = login(users[who])
        page = client.get(url(model, "change", obj.pk))
        assert page.status_code == 200 and not page.context["has_change_permission"], who
        assert client.get(url(model, "add")).status_code == 403
        assert client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    page = login(users["admin"]).get(url(model, "change", obj.pk))
    assert page.context["has_change_permission"]


@pytest.mark.parametrize("kind", ["delivery", "state", "notification"])
def test_the_engines_records_are_read_only_for_everyone(users, world, kind):
    model = type(world["a"][kind])
    for who in ("admin", "root"):
        client = login(users[who])
        assert client.get(url(model, "add")).status_code == 403
        page = client.get(url(model, "change", world["a"][kind].pk))
        assert page.status_code == 200 and not page.context["has_change_permission"]


def rule_form(team, **fields):
    return {"team": team.pk, "name": "rate", "kind": "error_rate", "workflow": "", "tag": "",
            "params": json.dumps({"threshold_percent": 25}), "severity": "critical", "for_seconds": 0,
            "auto_resolve": "on", "enabled": "on", **fields}


def test_a_rule_is_checked_by_its_kind_when_saved(users, team):
    client = login(users["admin"])
    page = client.post(url(AlertRule, "add"), rule_form(team, params=json.dumps({"threshold_percent": 250})))
    assert page.status_code == 200 and "threshold_percent" in str(page.context["adminform"].form.errors["params"])
    assert not AlertRule.objects.exclude(kind="regression").exists()  # only the team's default rule
    assert client.post(url(AlertRule, "add"), rule_form(team)).status_code == 302
    rule = AlertRule.objects.exclude(kind="regression").get()
    assert rule.params == {"threshold_percent": 25, "window_minutes": 60, "min_executions": 5}
    assert rule.created_by == users["admin"]


def test_references_to_another_teams_objects_are_refused(users, team, other_team):
    client = login(users["root"])  # sees every team's objects in the choice lists
    theirs = Workflow.objects.create(team=other_team, external_id="wf-theirs")
    their_channel = Channel.objects.create(team=other_team, name="theirs", kind="log")
    page = client.post(url(AlertRule, "add"), rule_form(team, workflow=theirs.pk))
    assert "workflow" in page.context["adminform"].form.errors
    page = client.post(url(Route, "add"), {"team": team.pk, "name": "r", "channel": their_channel.pk,
                                           "severities": "[]", "tags": "[]", "repeat_interval_minutes": 240,
                                           "escalate_after_minutes": 30, "enabled": "on"})
    assert "channel" in page.context["adminform"].form.errors
    assert not AlertRule.objects.exclude(kind="regression").exists() and not Route.objects.exists()


def test_a_team_admin_is_offered_only_their_teams_channels(users, team, world):
    form = login(users["admin"]).get(url(Route, "add")).context["adminform"].form
    assert set(form.fields["channel"].queryset) == {world["a"]["channel"]}
    assert set(form.fields["team"].queryset) == {team}


def channel_form(team, secrets, **fields):
    return {"team": team.pk, "name": "hook", "kind": "webhook", "config": "{}", "new_secrets": json.dumps(secrets),
            "enabled": "on", **fields}


def test_channel_secrets_are_write_only_and_shown_masked(users, team, httpserver):
    client = login(users["admin"])
    secrets = {"url": httpserver.url_for(HOOK_PATH), "signing_secret": generate_signing_secret()}
    # A bad one: the form comes back with the error, without the typed secrets in it.
    page = client.post(url(Channel, "add"), channel_form(team, {**secrets, "url": "ftp://x" + HOOK_PATH}))
    assert page.status_code == 200 and "url" in str(page.context["adminform"].form.errors["new_secrets"])
    assert HOOK_PATH not in page.content.decode() and secrets["signing_secret"] not in page.content.decode()
    assert client.post(url(Channel, "add"), channel_form(team, secrets)).status_code == 302
    channel = Channel.objects.get(name="hook")
    assert decrypt_json(channel.secrets) == secrets and HOOK_PATH not in channel.secrets
    page = client.get(url(Channel, "change", channel.pk)).content.decode()
    assert HOOK_PATH not in page and secrets["signing_secret"] not in page
    assert "url: http://localhost/…6789" in page  # the masked URL: scheme, host and the last characters
    # Empty keeps the stored secrets; a name given changes that one only.
    assert client.post(url(Channel, "change", channel.pk), channel_form(team, {}, new_secrets="")).status_code == 302
    channel.refresh_from_db()
    assert decrypt_json(channel.secrets) == secrets
    new_url = httpserver.url_for("/rotated")
    client.post(url(Channel, "change", channel.pk), channel_form(team, {"url": new_url}))
    channel.refresh_from_db()
    assert decrypt_json(channel.secrets) == {**secrets, "url": new_url}


def test_send_test_action_records_a_delivery(users, team, httpserver):
    httpserver.expect_request(HOOK_PATH, method="POST").respond_with_json({"ok": True})
    client = login(users["admin"])
    client.post(url(Channel, "add"), channel_form(team, {"url": httpserver.url_for(HOOK_PATH),
                                                         "signing_secret": generate_signing_secret()}))
    channel = Channel.objects.get(name="hook")
    page = client.post(url(Channel), {"action": "send_test", "_selected_action": [channel.pk], "index": "0"},
                       follow=True)
    assert "hook (webhook): Sent (200)" in [str(m) for m in page.context["messages"]]
    delivery = Delivery.objects.get(channel=channel)
    assert (delivery.event, delivery.status, delivery.response_code) == ("test", "sent", 200)
    assert len(httpserver.log) == 1
    # Viewers are not offered the action, and posting it sends nothing.
    viewer = login(users["viewer"])
    assert "send_test" not in viewer.get(url(Channel)).content.decode()
    viewer.post(url(Channel), {"action": "send_test", "_selected_action": [channel.pk], "index": "0"})
    assert Delivery.objects.filter(channel=channel).count() == 1


def test_a_silence_is_checked_and_records_who_made_it(users, team):
    client = login(users["admin"])
    form = {"team": team.pk, "matchers": json.dumps({"severity": "urgent"}), "starts_at_0": "2026-01-01",
            "starts_at_1": "00:00:00", "ends_at_0": "2026-01-02", "ends_at_1": "00:00:00", "weekdays": "[]",
            "time_zone": "UTC", "comment": "maintenance", "created_at_0": "2026-01-01", "created_at_1": "00:00:00"}
    page = client.post(url(Silence, "add"), form)
    assert page.status_code == 200 and "severity" in str(page.context["adminform"].form.errors["matchers"])
    assert client.post(url(Silence, "add"), {**form, "matchers": json.dumps({"severity": "info"})}).status_code == 302
    assert Silence.objects.get().created_by == "ada"


def test_deliveries_filter_by_status_and_channel(users, world, team):
    failed = Delivery.objects.create(channel=world["a"]["channel"], event="test", status="failed", error="refused")
    client = login(users["viewer"])
    shown = client.get(url(Delivery), {"status": "failed"}).context["cl"].result_list
    assert list(shown) == [failed]
    shown = client.get(url(Delivery), {"channel": world["a"]["channel"].pk}).context["cl"].result_list
    assert set(shown) == {failed, world["a"]["delivery"]}
    choices = client.get(url(Delivery)).context["cl"].filter_specs
    channel_filter = next(spec for spec in choices if getattr(spec, "parameter_name", None) == "channel")
    assert [label for _, label in channel_filter.lookup_choices] == ["log-a (acme)"]
