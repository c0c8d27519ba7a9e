"""What notifications say (alerts.messages): every event of an alert names it, its severity and
workflow, and carries the link to the alert's page under FLOWTOWER_BASE_URL."""

import pytest
from alerting_channels_world import alert, make_channel, workflow  # noqa: F401
from django.test import override_settings
from django.utils import timezone

from alerts import messages
from alerts.models import NotificationEvent
from monitoring.services import raise_alert


@override_settings(FLOWTOWER_BASE_URL="https://flowtower.example.com")
@pytest.mark.parametrize("event, title", [
    ("firing", "[CRITICAL] Order sync failed"),
    ("repeat", "[CRITICAL] Still firing: Order sync failed"),
    ("escalation", "[ESCALATED CRITICAL] Not acknowledged: Order sync failed"),
    ("acknowledged", "[ACKNOWLEDGED] Order sync failed"),
    ("resolved", "[RESOLVED] Order sync failed"),
])
def test_every_event_names_the_alert_and_links_to_it(alert, event, title):
    notification = messages.build(alert, event)
    link = f"https://flowtower.example.com/alerts/{alert.pk}/"
    assert (notification.title, notification.link, notification.event) == (title, link, event)
    assert notification.text.startswith(title) and notification.text.endswith(f"Open: {link}")
    assert "Workflow: Order sync" in notification.text and "Occurrences: 1" in notification.text
    assert notification.dedup_key == str(alert.pk)


def test_events_cover_every_notification_event():
    assert set(messages.TITLE_MARKERS) == set(NotificationEvent.values)


def test_acknowledgement_and_repeats_show_in_the_text(alert):
    alert.occurrences, alert.acknowledged, alert.acknowledged_by = 4, True, "ada"
    alert.acknowledged_at = timezone.now()
    notification = messages.build(alert, "acknowledged")
    assert "Acknowledged by ada" in notification.text and "Occurrences: 4" in notification.text
    assert notification.status == "firing" and notification.acknowledged_by == "ada"


def test_an_alert_without_workflow_and_a_test_notification(team, make_channel):
    infra, _ = raise_alert(team, fingerprint="am:abc", alert_type="resource", severity="warning",
                           title="Disk almost full", source="alertmanager")
    notification = messages.build(infra, "firing")
    assert notification.workflow_name == "" and "Workflow:" not in notification.text

    test = messages.build_test(make_channel("log", name="On-call"), actor="ada")
    assert test.title == "[TEST] Test notification from Flowtower (On-call)"
    assert "ada" in test.text and test.link.endswith("/alerts/")
