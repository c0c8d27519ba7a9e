"""The alerting pages (rules, channels, routes, silences, an alert's own page) as team members use
them: admins manage, members and viewers read, nobody sees another team's; forms show the
engine's validation errors at their fields; secrets stay masked; "send test" and "silence this
alert for…" do what they say."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from alerts import silences
from alerts.models import AlertRule, Channel, Delivery, Route, Silence
from monitoring.models import Alert, AlertSource, Workflow
from monitoring.services import raise_alert


@pytest.fixture
def signed_in(make_user):
    """A browser-like client signed in with a role in a team; CSRF checked as in a real browser."""
    def make(team, role, username=None):
        client = Client(enforce_csrf_checks=True)
        client.force_login(make_user(username or f"{role}-{team.slug}", team, role))
        client.get("/rules/")  # the page's forms set the CSRF cookie
        return client
    return make


def post(client, path, data=None):
    """A POST with the CSRF token a page of the site gave this client."""
    return client.post(path, {**(data or {}), "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def workflow(team, external_id="wf-1", tags=()):
    return Workflow.objects.create(team=team, external_id=external_id, name=f"Flow {external_id}", tags=list(tags))


def channel(team, name="ops log", kind="log", **kwargs):
    return Channel.objects.create(team=team, name=name, kind=kind, **kwargs)


def infra_alert(team, title="Disk almost full", **kwargs):
    alert, _ = raise_alert(team, fingerprint=f"am:{title}", alert_type="resource", severity="critical", title=title,
                           source=AlertSource.ALERTMANAGER, labels={"instance": "db-1", "alertname": "DiskFull"},
                           **kwargs)
    return alert


def html(response):
    assert response.status_code == 200, response.status_code
    return response.content.decode()


LISTS = ["/rules/", "/channels/", "/routes/", "/silences/"]


@pytest.mark.parametrize("path", LISTS + ["/rules/new/", "/silences/new/"])
def test_pages_need_sign_in(db, client, path):
    r = client.get(path)
    assert r.status_code == 302 and r["Location"].startswith("/login/")


def _one_of_each(team):
    ch = channel(team, name=f"{team.slug}-channel")
    rule = AlertRule.objects.create(team=team, name=f"{team.slug}-rule", kind="execution_failed")
    route = Route.objects.create(team=team, name=f"{team.slug}-route", channel=ch)
    silence = Silence.objects.create(team=team, comment=f"{team.slug}-silence", ends_at=timezone.now() + timedelta(hours=1))
    return {"channels": ch, "rules": rule, "routes": route, "silences": silence}


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_members_and_viewers_read_without_forms_or_buttons(team, signed_in, role):
    _one_of_each(team)
    client = signed_in(team, role)
    for path in LISTS:
        page = html(client.get(path))
        assert f"acme-{path.strip('/')[:-1]}" in page  # the team's own object is listed
        assert 'data-action="new"' not in page and 'data-action="edit"' not in page
        assert 'data-action="test"' not in page and 'data-action="expire"' not in page
        assert "read-only" in page


@pytest.mark.parametrize("role", ["viewer", "member"])
def test_members_and_viewers_are_refused_every_change(team, signed_in, role):
    objects = _one_of_each(team)
    client = signed_in(team, role)
    for kind in ("rules", "channels", "routes", "silences"):
        assert client.get(f"/{kind}/new/").status_code == 403
        assert post(client, f"/{kind}/new/", {"name": "mine"}).status_code == 403
        pk = objects[kind].pk
        assert client.get(f"/{kind}/{pk}/").status_code == 403
        assert post(client, f"/{kind}/{pk}/", {"name": "renamed"}).status_code == 403
        assert post(client, f"/{kind}/{pk}/delete/").status_code == 403
    assert post(client, f"/channels/{objects['channels'].pk}/test/").status_code == 403
    assert post(client, f"/silences/{objects['silences'].pk}/expire/").status_code == 403
    alert = infra_alert(team)
    assert post(client, f"/alerts/{alert.pk}/silence/", {"minutes": "60"}).status_code == 403
    # (Beside the team's default "Error regressions" rule.)
    assert (AlertRule.objects.exclude(kind="regression").count() == Channel.objects.count() == Route.objects.count()
            == Silence.objects.count() == 1)
    assert Delivery.objects.count() == 0
    assert Silence.objects.get().ends_at > timezone.now()


def test_admin_sees_the_buttons(team, signed_in):
    _one_of_each(team)
    client = signed_in(team, "admin")
    for path in LISTS:
        page = html(client.get(path))
        assert 'data-action="new"' in page and 'data-action="edit"' in page
    assert 'data-action="test"' in html(client.get("/channels/"))
    assert 'data-action="expire"' in html(client.get("/silences/"))


def test_a_team_never_sees_another_teams(team, other_team, signed_in):
    _one_of_each(team)
    theirs = _one_of_each(other_team)
    their_alert = infra_alert(other_team, title="Their disk")
    client = signed_in(team, "admin")
    for path in LISTS:
        assert "globex" not in html(client.get(path))
    for kind, obj in theirs.items():
        assert client.get(f"/{kind}/{obj.pk}/").status_code == 404
        assert post(client, f"/{kind}/{obj.pk}/delete/").status_code == 404
    assert post(client, f"/channels/{theirs['channels'].pk}/test/").status_code == 404
    assert post(client, f"/silences/{theirs['silences'].pk}/expire/").status_code == 404
    assert client.get(f"/alerts/{their_alert.pk}/").status_code == 404
    assert post(client, f"/alerts/{their_alert.pk}/silence/", {"minutes": "60"}).status_code == 404
    assert AlertRule.objects.filter(team=other_team).exclude(kind="regression").count() == 1
    assert Silence.objects.filter(team=other_team).count() == 1


# ---- rules --------------------------------------------------------------------------------------

def rule_form(**overrides):
    data = {"name": "Orders error rate", "kind": "error_rate", "scope": "all", "severity": "critical",
            "for_seconds": "0", "auto_resolve": "on", "enabled": "on",
            "params": '{"threshold_percent": 20, "window_minutes": 30}'}
    return {**data, **overrides}


def test_rule_form_shows_the_kinds_validation_errors_at_their_fields(team, signed_in):
    client = signed_in(team, "admin")
    page = html(post(client, "/rules/new/", rule_form(params='{"threshold_percent": 150}', for_seconds="9999999")))
    assert "threshold_percent: Must be below 100." in page
    assert re.search(r'data-field-name="for_seconds".*?class="error"', page, re.S)
    page = html(post(client, "/rules/new/", rule_form(scope="workflow")))
    assert "Choose the workflow." in page
    page = html(post(client, "/rules/new/", rule_form(params="{not json")))
    assert 'data-field-name="params"' in page and "Enter a valid JSON." in page
    assert AlertRule.objects.exclude(kind="regression").count() == 0  # only the team's default rule


def test_rule_form_lists_every_kinds_params(team, signed_in):
    page = html(signed_in(team, "admin").get("/rules/new/"))
    for name in ("execution_failed", "error_rate", "slow", "stuck", "no_executions", "error_severity", "resource",
                 "deactivated"):
        assert f"<code>{name}</code>" in page
    assert "threshold_percent" in page


def test_admin_creates_edits_and_deletes_a_rule(team, other_team, signed_in):
    wf = workflow(team)
    ours = channel(team)
    theirs = channel(other_team, name="their channel")
    client = signed_in(team, "admin")
    # Another team's channel is not a choice.
    page = html(post(client, "/rules/new/", rule_form(scope="workflow", workflow=str(wf.pk), channels=[str(theirs.pk)])))
    assert "Select a valid choice" in page
    r = post(client, "/rules/new/", rule_form(scope="workflow", workflow=str(wf.pk), channels=[str(ours.pk)]))
    assert r.status_code == 302 and r["Location"] == "/rules/"
    rule = AlertRule.objects.exclude(kind="regression").get()  # beside the team's default rule
    assert (rule.team, rule.workflow, rule.kind, rule.severity) == (team, wf, "error_rate", "critical")
    assert rule.params == {"threshold_percent": 20, "window_minutes": 30, "min_executions": 5}  # defaults filled in
    assert list(rule.channels.all()) == [ours]
    assert "Orders error rate" in html(client.get("/rules/"))
    # Edit: a tag instead of the workflow.
    edit = html(client.get(f"/rules/{rule.pk}/"))
    assert 'value="workflow"' in edit and "checked" in edit
    r = post(client, f"/rules/{rule.pk}/", rule_form(scope="tag", tag="billing", workflow=str(wf.pk), enabled=""))
    assert r.status_code == 302
    rule.refresh_from_db()
    assert (rule.workflow, rule.tag, rule.enabled) == (None, "billing", False)
    assert post(client, f"/rules/{rule.pk}/delete/").status_code == 302
    assert not AlertRule.objects.exclude(kind="regression").exists()


# ---- routes -------------------------------------------------------------------------------------

def test_admin_creates_a_route_from_the_teams_channels_and_rules(team, other_team, signed_in):
    pager, chat = channel(team, "pager"), channel(team, "chat")
    rule = AlertRule.objects.create(team=team, name="failed", kind="execution_failed")
    theirs = channel(other_team, "theirs")
    client = signed_in(team, "admin")
    data = {"name": "Criticals to the pager", "channel": str(theirs.pk), "severities": ["critical"],
            "rules": [str(rule.pk)], "tags": "billing, orders ,", "repeat_interval_minutes": "60",
            "escalation_channel": str(chat.pk), "escalate_after_minutes": "15", "enabled": "on"}
    assert "Select a valid choice" in html(post(client, "/routes/new/", data))
    assert "greater than or equal to 1" in html(post(client, "/routes/new/", {**data, "channel": str(pager.pk),
                                                                      "repeat_interval_minutes": "0"}))
    assert post(client, "/routes/new/", {**data, "channel": str(pager.pk)}).status_code == 302
    route = Route.objects.get()
    assert (route.team, route.channel, route.escalation_channel) == (team, pager, chat)
    assert (route.severities, route.tags, route.repeat_interval_minutes) == (["critical"], ["billing", "orders"], 60)
    assert list(route.rules.all()) == [rule]
    page = html(client.get("/routes/"))
    assert "Criticals to the pager" in page and "chat after 15 min" in page
    assert 'value="billing, orders"' in html(client.get(f"/routes/{route.pk}/"))


# ---- silences -----------------------------------------------------------------------------------

def silence_form(**overrides):
    data = {"severity": "warning", "mode": "once", "time_zone": "Europe/Berlin",
            "starts_at": "2030-03-01T10:00", "ends_at": "2030-03-01T12:00", "comment": "database upgrade"}
    return {**data, **overrides}


def test_silence_form_shows_validation_errors(team, signed_in):
    client = signed_in(team, "admin")
    page = html(post(client, "/silences/new/", silence_form(time_zone="Mars/Olympus")))
    assert "unknown time zone" in page
    page = html(post(client, "/silences/new/", silence_form(ends_at="2030-03-01T09:00")))
    assert "must be after starts_at" in page
    page = html(post(client, "/silences/new/", silence_form(mode="weekly")))
    assert "Tick the days" in page
    page = html(post(client, "/silences/new/", silence_form(mode="weekly", weekdays=["6", "7"])))
    assert "is required for a recurring silence" in page
    page = html(post(client, "/silences/new/", silence_form(labels="no equals sign")))
    assert "write name=value" in page
    assert not Silence.objects.exists()


def test_a_weekly_maintenance_window_in_a_time_zone(team, signed_in):
    wf = workflow(team, "nightly-sync")
    client = signed_in(team, "admin")
    r = post(client, "/silences/new/", silence_form(
        mode="weekly", workflow="nightly-sync", weekdays=["7"], daily_start="02:00", duration_minutes="120",
        labels="env=prod", starts_at="2030-01-01T00:00", ends_at="2031-01-01T00:00"))
    assert r.status_code == 302
    silence = Silence.objects.get()
    assert silence.matchers == {"workflow": "nightly-sync", "severity": "warning", "labels": {"env": "prod"}}
    assert (silence.weekdays, silence.daily_start.isoformat(), silence.duration_minutes) == ([7], "02:00:00", 120)
    # The times were typed on Berlin's clock (CET in January: UTC+1).
    assert silence.starts_at.isoformat() == "2029-12-31T23:00:00+00:00"
    assert silence.created_by == "admin-acme"
    page = html(client.get("/silences/"))
    assert "Sun at 02:00 for 120 min" in page and "upcoming" in page
    assert wf.name in html(client.get(f"/silences/{silence.pk}/"))  # the edit form shows the stored values


def test_silences_show_their_state_and_expire_now(team, signed_in):
    now = timezone.now()
    active = Silence.objects.create(team=team, comment="now on", starts_at=now - timedelta(minutes=5),
                                    ends_at=now + timedelta(hours=1))
    Silence.objects.create(team=team, comment="later on", starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=2))
    Silence.objects.create(team=team, comment="long gone", starts_at=now - timedelta(days=2), ends_at=now - timedelta(days=1))
    client = signed_in(team, "admin")
    page = html(client.get("/silences/"))
    for comment, state in (("now on", "active"), ("later on", "upcoming"), ("long gone", "expired")):
        assert re.search(rf'data-state="{state}">(?:(?!</tr>).)*{comment}', page, re.S), comment
    assert post(client, f"/silences/{active.pk}/expire/").status_code == 302
    active.refresh_from_db()
    assert active.ends_at <= timezone.now() and not silences.is_active(active)
    assert re.search(r'data-state="expired">(?:(?!</tr>).)*now on', html(client.get("/silences/")), re.S)


# ---- an alert's own page --------------------------------------------------------------------------

def test_alert_page_shows_what_on_call_needs(team, signed_in):
    alert = infra_alert(team)
    infra_alert(team)  # a repeat: the same alert, seen twice
    Alert.objects.filter(pk=alert.pk).update(silenced=True)
    ch = channel(team, "pager")
    Delivery.objects.create(alert=alert, channel=ch, event="firing", attempt=2, status="failed", response_code=503,
                            error="the receiver answered 503")
    page = html(signed_in(team, "viewer").get(f"/alerts/{alert.pk}/"))
    assert "Disk almost full" in page and 'class="status firing"' in page
    assert "Alertmanager" in page and "none (infrastructure)" in page
    assert "instance=db-1" in page and "alertname=DiskFull" in page
    assert re.search(r'data-field="occurrences">2<', page)
    assert 'data-field="silenced"' in page and 'data-field="inhibited"' not in page
    assert re.search(r"<td>pager.*?Firing</td>\s*<td>2</td>.*?Failed.*?<td>503</td>.*?answered 503", page, re.S)
    # A viewer reads; no buttons.
    assert 'data-action="acknowledge"' not in page and 'id="silence-for"' not in page


def test_alert_page_buttons_by_role(team, signed_in):
    wf = workflow(team)
    alert, _ = raise_alert(team, fingerprint="f1", alert_type="error", severity="warning", title="Orders failing",
                           workflow=wf)
    member = html(signed_in(team, "member").get(f"/alerts/{alert.pk}/"))
    assert 'data-action="acknowledge"' in member and 'data-action="resolve"' in member
    assert wf.name in member
    assert 'id="silence-for"' not in member  # silences are the admins'
    admin = signed_in(team, "admin")
    assert 'id="silence-for"' in html(admin.get(f"/alerts/{alert.pk}/"))
    # Acknowledging from the alert page comes back to it.
    r = post(admin, f"/alerts/{alert.pk}/acknowledge/", {"next": f"/alerts/{alert.pk}/"})
    assert r.status_code == 302 and r["Location"] == f"/alerts/{alert.pk}/"
    assert Alert.objects.get(pk=alert.pk).acknowledged_by == "admin-acme"


def test_silence_this_alert_for_creates_a_matching_silence(team, signed_in):
    wf = workflow(team)
    alert, _ = raise_alert(team, fingerprint="f1", alert_type="error", severity="warning", title="Orders failing",
                           workflow=wf)
    other, _ = raise_alert(team, fingerprint="f2", alert_type="performance", severity="warning", title="Slow",
                           workflow=workflow(team, "wf-2"))
    client = signed_in(team, "admin")
    r = post(client, f"/alerts/{alert.pk}/silence/", {"minutes": "240"})
    assert r.status_code == 302 and r["Location"] == f"/alerts/{alert.pk}/"
    silence = Silence.objects.get()
    assert silences.is_active(silence) and silences.matches(silence, alert) and not silences.matches(silence, other)
    assert timedelta(minutes=239) < silence.ends_at - timezone.now() <= timedelta(minutes=240)
    assert silence.created_by == "admin-acme"
    assert "Silenced until" in html(client.get(r["Location"]))
    # Custom: hours.
    post(client, f"/alerts/{alert.pk}/silence/", {"hours": "1.5"})
    assert Silence.objects.order_by("-created_at").first().ends_at - timezone.now() > timedelta(minutes=89)
    # Nonsense is refused with a message, nothing created.
    for nonsense in ({"minutes": "-5"}, {"hours": "inf"}, {"hours": "soon"}):
        assert post(client, f"/alerts/{alert.pk}/silence/", nonsense).status_code == 302
    assert Silence.objects.count() == 2


def test_alerts_list_rows_link_to_the_alert_page_with_status_count_and_marks(team, signed_in):
    alert = infra_alert(team)
    infra_alert(team)
    Alert.objects.filter(pk=alert.pk).update(inhibited=True)
    page = html(signed_in(team, "viewer").get("/alerts/"))
    row = re.search(rf'data-alert-id="{alert.pk}".*?</article>', page, re.S).group(0)
    assert f'href="/alerts/{alert.pk}/"' in row
    assert 'class="status firing"' in row and "×2" in row and "seen 2 times" in row
    assert 'data-field="inhibited"' in row and 'data-field="silenced"' not in row
    assert "Alertmanager" in row and "(infrastructure)" in row


def test_custom_silence_form_starts_prefilled_from_the_alert(team, signed_in):
    workflow(team)
    alert = infra_alert(team)
    page = html(signed_in(team, "admin").get(f"/silences/new/?alert={alert.pk}"))
    assert "instance=db-1" in page and "alertname=DiskFull" in page  # the alert's labels as matchers


# ---- channels -----------------------------------------------------------------------------------

def webhook_form(url, **overrides):
    from alerts.channels.webhook import generate_signing_secret

    data = {"name": "ops hook", "kind": "webhook", "team": "acme", "enabled": "on", "secret_url": url,
            "secret_signing_secret": generate_signing_secret()}
    return {**data, **overrides}


def test_channel_form_is_drawn_from_the_kind_and_validated_by_it(team, signed_in, httpserver):
    client = signed_in(team, "admin")
    kinds = html(client.get("/channels/new/"))
    for kind in ("log", "email", "slack", "webhook", "pagerduty", "telegram", "apprise"):
        assert f'data-kind="{kind}"' in kinds
    email = html(client.get("/channels/new/?kind=email"))
    assert 'name="config_to"' in email and "Recipients" in email
    page = html(post(client, "/channels/new/", {"name": "mail", "kind": "email", "config_to": "ops@example.com, nope"}))
    assert re.search(r'data-field-name="config_to".*?Not an email address: nope', page, re.S)
    page = html(post(client, "/channels/new/", webhook_form("ftp://example.com/x")))
    assert re.search(r'data-field-name="secret_url".*?class="error">Must be an http', page, re.S)
    page = html(post(client, "/channels/new/", webhook_form(httpserver.url_for("/hook"), secret_signing_secret="abc")))
    assert re.search(r'data-field-name="secret_signing_secret".*?class="error">Must start with whsec_', page, re.S)
    assert not Channel.objects.exists()
    assert post(client, "/channels/new/", {"name": "mail", "kind": "email", "config_to": "ops@example.com, b@example.com"}).status_code == 302
    assert Channel.objects.get(kind="email").config == {"to": ["ops@example.com", "b@example.com"]}
    assert 'value="ops@example.com, b@example.com"' in html(client.get(f"/channels/{Channel.objects.get().pk}/"))


def test_secrets_are_never_shown_back_in_full(team, signed_in, httpserver):
    client = signed_in(team, "admin")
    url = httpserver.url_for("/hooks/T000/B000/very-secret-token-value")
    data = webhook_form(url)
    assert post(client, "/channels/new/", data).status_code == 302
    ch = Channel.objects.get()
    assert "very-secret-token-value" not in ch.secrets  # encrypted at rest
    for page in (html(client.get("/channels/")), html(client.get(f"/channels/{ch.pk}/")),
                 html(signed_in(team, "viewer").get("/channels/"))):
        assert "very-secret-token-value" not in page and data["secret_signing_secret"] not in page
        assert "http://localhost/…alue" in page or "http://127.0.0.1/…alue" in page  # masked: host and last 4
    # Saving the edit form with the secrets left blank keeps them.
    r = post(client, f"/channels/{ch.pk}/", {"name": "renamed hook", "enabled": "on", "secret_url": "",
                                             "secret_signing_secret": ""})
    assert r.status_code == 302
    from alerts.delivery import channel_secrets
    ch.refresh_from_db()
    assert ch.name == "renamed hook" and channel_secrets(ch) == {"url": url,
                                                                 "signing_secret": data["secret_signing_secret"]}


def test_send_test_records_a_delivery_and_shows_the_result(team, signed_in, httpserver):
    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_data("ok", status=200)
    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_data("broken", status=500)
    client = signed_in(team, "admin")
    post(client, "/channels/new/", webhook_form(httpserver.url_for("/hook")))
    ch = Channel.objects.get()
    r = post(client, f"/channels/{ch.pk}/test/")
    assert r.status_code == 302 and r["Location"] == "/channels/"
    page = html(client.get("/channels/"))
    assert "Test to “ops hook”: sent (HTTP 200)" in page
    delivery = Delivery.objects.get()
    assert (delivery.event, delivery.status, delivery.response_code, delivery.alert) == ("test", "sent", 200, None)
    assert b'"type":"alert.test"' in httpserver.log[0][0].get_data().replace(b" ", b"")
    post(client, f"/channels/{ch.pk}/test/")
    page = html(client.get("/channels/"))
    assert "Test to “ops hook”: failed (HTTP 500)" in page
    assert re.search(r'data-field="latest-test"><span class="delivery failed">Failed</span> 500', page)
    assert Delivery.objects.count() == 2


def test_a_channel_that_keeps_failing_is_marked(team, signed_in):
    channel(team, "flaky", consecutive_failures=5, last_failure_at=timezone.now())
    channel(team, "fine", last_success_at=timezone.now())
    page = html(signed_in(team, "member").get("/channels/"))
    assert re.search(r"flaky(?:(?!</tr>).)*health critical[^>]*>failing", page, re.S)
    assert re.search(r"fine(?:(?!</tr>).)*health healthy\">ok", page, re.S)
