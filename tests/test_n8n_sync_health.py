"""An n8n instance that keeps failing to sync alerts its team: n8n's API on a closed port of this
machine (nothing listens), the clock moved with time-machine. No alert before
FLOWTOWER_N8N_SYNC_ALERT_AFTER seconds of failing; then one alert whose occurrences rise with
every further failure; the next good pass resolves it and ends the run of failures. The alert
reaches a team's channel through an ordinary route (a real webhook receiver), and so does its
resolution. A crash the beat task catches counts the same as a read error."""

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from standardwebhooks import Webhook

from alerts.channels.webhook import generate_signing_secret
from alerts.delivery import configure_channel
from alerts.models import Channel, Delivery, Route
from alerts.silences import matches, silence_for
from monitoring.models import Alert
from n8n_mirror import health, sync
from n8n_mirror.tasks import sync_due
from test_n8n_sync import api_instance, fake_n8n  # noqa: F401  (fixtures: the recorded n8n API)

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
OTHER_KEY = "b3RoZXIta2V5LW5vdC10aGUtb25lLXVzZWQtMDEyMzQ="  # a Fernet key that decrypts nothing stored


def closed_port():
    """A port of 127.0.0.1 nothing listens on: n8n unreachable, at once (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def unreachable(api_instance, settings, time_machine):  # noqa: F811
    """The API instance pointed at a closed port, the clock at T0, a 300 s threshold."""
    settings.FLOWTOWER_ALLOW_PRIVATE_OUTBOUND = True
    settings.FLOWTOWER_N8N_SYNC_ALERT_AFTER = 300
    time_machine.move_to(T0, tick=False)
    api_instance.good_url = api_instance.api_url
    api_instance.api_url = f"http://127.0.0.1:{closed_port()}/"
    api_instance.save()
    return api_instance


def sync_at(instance, seconds, time_machine):
    time_machine.move_to(T0 + timedelta(seconds=seconds), tick=False)
    result = sync.sync_instance(instance)
    instance.refresh_from_db()
    return result


def open_alerts(instance):
    return list(Alert.objects.filter(team=instance.team, fingerprint=health.fingerprint(instance), resolved=False))


@pytest.mark.django_db(transaction=True)
def test_no_alert_before_the_threshold_then_one_counted_alert_resolved_by_the_next_good_pass(unreachable,
                                                                                            time_machine):
    instance = unreachable
    result = sync_at(instance, 0, time_machine)
    assert "unreachable" in result.error and instance.last_error == result.error
    assert instance.failing_since == T0 and instance.last_error_at == T0
    for seconds in (30, 150, 299):
        sync_at(instance, seconds, time_machine)
        assert instance.failing_since == T0  # the run's start stays where it began
    assert not Alert.objects.exists()

    sync_at(instance, 300, time_machine)
    [alert] = open_alerts(instance)
    assert (alert.alert_type, alert.severity, alert.source) == ("dependency", "critical", "integration")
    assert alert.fingerprint == f"n8n-sync:{instance.pk}" and alert.workflow is None
    assert alert.labels == {"n8n_instance": "n8n-api"}
    assert alert.description == instance.last_error and "unreachable" in alert.description
    assert "n8n-api" in alert.title and alert.occurrences == 1
    assert alert.metadata["failing_since"] == T0.isoformat() and alert.metadata["failing_for_seconds"] == 300

    for seconds in (330, 360):
        sync_at(instance, seconds, time_machine)
    alert.refresh_from_db()
    assert Alert.objects.count() == 1  # counted, not added
    assert alert.occurrences == 3 and alert.last_seen_at == T0 + timedelta(seconds=360)

    instance.api_url = instance.good_url
    instance.save()
    assert sync_at(instance, 390, time_machine).ok
    alert.refresh_from_db()
    assert alert.resolved and alert.resolved_by == "Flowtower (n8n instance syncing again)"
    assert alert.resolved_at == T0 + timedelta(seconds=390)
    assert (instance.failing_since, instance.last_error, instance.last_error_at) == (None, "", None)

    # Failing again starts a new run: its own threshold, then a new alert (the old one stays resolved).
    instance.api_url = f"http://127.0.0.1:{closed_port()}/"
    instance.save()
    sync_at(instance, 420, time_machine)
    assert instance.failing_since == T0 + timedelta(seconds=420) and not open_alerts(instance)
    sync_at(instance, 720, time_machine)
    [again] = open_alerts(instance)
    assert again.pk != alert.pk and again.occurrences == 1


@pytest.mark.django_db(transaction=True)
def test_the_alert_and_its_resolution_reach_a_routed_channel(unreachable, time_machine, httpserver):
    instance = unreachable
    secret = generate_signing_secret()
    hook = configure_channel(Channel(team=instance.team, name="on-call hook", kind="webhook"),
                             secrets={"url": httpserver.url_for("/hook"), "signing_secret": secret})
    # An ordinary route: every severity, no rule, no workflow tag.
    Route.objects.create(team=instance.team, name="everything", channel=hook)
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")

    def received():
        return [Webhook(secret).verify(request.get_data(), dict(request.headers))
                for request, _ in httpserver.log if request.path == "/hook"]

    for seconds in (0, 30, 60, 270):
        sync_at(instance, seconds, time_machine)
    assert received() == []  # failing, but not for long enough yet

    sync_at(instance, 300, time_machine)
    [firing] = received()
    assert firing["type"] == "alert.firing"
    data = firing["data"]
    assert (data["severity"], data["source"], data["alert_type"]) == ("critical", "integration", "dependency")
    assert data["labels"] == {"n8n_instance": "n8n-api"} and data["fingerprint"] == f"n8n-sync:{instance.pk}"
    assert "unreachable" in data["description"] and "n8n-api" in data["title"]

    sync_at(instance, 330, time_machine)
    assert len(received()) == 1  # a repeat within the route's repeat interval: counted, not re-sent

    instance.api_url = instance.good_url
    instance.save()
    assert sync_at(instance, 360, time_machine).ok
    firing_and_resolved = received()
    assert [body["type"] for body in firing_and_resolved] == ["alert.firing", "alert.resolved"]
    assert firing_and_resolved[1]["data"]["alert_id"] == data["alert_id"]
    assert firing_and_resolved[1]["data"]["resolved_by"] == "Flowtower (n8n instance syncing again)"
    assert sorted(Delivery.objects.filter(attempt=1).values_list("event", "status")) == [
        ("firing", "sent"), ("resolved", "sent")]


@pytest.mark.django_db(transaction=True)
def test_a_crash_the_beat_task_catches_counts_as_a_failed_pass(api_instance, settings, time_machine):  # noqa: F811
    # A real crash outside the read: the instance's key encrypted with a key no longer configured.
    settings.FLOWTOWER_N8N_SYNC_ALERT_AFTER = 60
    good_keys = settings.FLOWTOWER_ENCRYPTION_KEYS
    settings.FLOWTOWER_ENCRYPTION_KEYS = [OTHER_KEY]
    time_machine.move_to(T0, tick=False)
    outcome = sync_due()
    assert "DecryptionError" in outcome[str(api_instance)]
    api_instance.refresh_from_db()
    assert api_instance.failing_since == T0 and "DecryptionError" in api_instance.last_error
    assert not Alert.objects.exists()
    for seconds in (30, 60, 90):
        time_machine.move_to(T0 + timedelta(seconds=seconds), tick=False)
        sync_due()
    [alert] = open_alerts(api_instance)
    assert alert.occurrences == 2 and "DecryptionError" in alert.description  # at 60 s and 90 s

    settings.FLOWTOWER_ENCRYPTION_KEYS = good_keys
    time_machine.move_to(T0 + timedelta(seconds=120), tick=False)
    assert sync_due() == {str(api_instance): 30}
    alert.refresh_from_db()
    api_instance.refresh_from_db()
    assert alert.resolved and api_instance.failing_since is None and api_instance.last_error == ""


@pytest.mark.django_db(transaction=True)
def test_silence_this_alert_mutes_that_instance_only(unreachable, time_machine, team):
    instance = unreachable
    for seconds in (0, 300):
        sync_at(instance, seconds, time_machine)
    [alert] = open_alerts(instance)
    silence = silence_for(alert, 60, "alice")
    assert silence.matchers == {"labels": {"n8n_instance": "n8n-api"}}
    other = Alert(team=team, fingerprint="n8n-sync:0", alert_type="dependency", severity="critical",
                  source="integration", title="another instance", labels={"n8n_instance": "other"})
    assert matches(silence, alert) and not matches(silence, other)


@pytest.mark.django_db(transaction=True)
def test_admin_and_the_n8n_page_show_since_when_it_fails(unreachable, time_machine, make_user):
    instance = unreachable
    sync_at(instance, 0, time_machine)
    sync_at(instance, 45, time_machine)
    root = Client()
    root.force_login(make_user("root", superuser=True))
    change = root.get(reverse("admin:n8n_mirror_n8ninstance_change", args=[instance.pk])).content.decode()
    assert "Failing since" in change and "unreachable" in change
    page = root.get("/n8n/").content.decode()
    assert 'data-field="failing-since">failing since 2026-11-25 12:00:00<' in page
    instance.api_url = instance.good_url
    instance.save()
    sync_at(instance, 60, time_machine)
    assert 'data-field="failing-since"' not in root.get("/n8n/").content.decode()


def test_the_threshold_is_a_number_of_seconds_0_or_more():
    env = {**os.environ, "FLOWTOWER_N8N_SYNC_ALERT_AFTER": "-1"}
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=root, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0 and "FLOWTOWER_N8N_SYNC_ALERT_AFTER must be" in result.stderr
