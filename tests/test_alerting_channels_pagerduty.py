"""The PagerDuty channel (Events API v2, its URL pointed at a local receiver): the alert's firing,
acknowledgement and resolution become trigger, acknowledge and resolve with one dedup_key, so one
Flowtower alert is one PagerDuty incident; a test triggers and resolves at once."""

import pytest
from alerting_channels_world import alert, deliver, make_channel, workflow  # noqa: F401
from django.conf import settings
from django.utils import timezone

from alerts import delivery

ROUTING_KEY = "R0UT1NGKEY0123456789ABCDEFGHIJKL"


@pytest.fixture
def pagerduty(make_channel, httpserver):
    httpserver.expect_request("/v2/enqueue", method="POST").respond_with_json(
        {"status": "success", "message": "Event processed", "dedup_key": "x"}, status=202)
    return make_channel("pagerduty", config={"events_url": httpserver.url_for("/v2/enqueue")},
                        secrets={"routing_key": ROUTING_KEY})


def events(httpserver):
    return [request.get_json() for request, _ in httpserver.log]


def test_trigger_acknowledge_resolve_follow_the_alert_with_one_dedup_key(alert, pagerduty, httpserver, deliver):
    deliver(alert, pagerduty, "firing")
    alert.acknowledged, alert.acknowledged_by, alert.acknowledged_at = True, "ada", timezone.now()
    alert.save()
    deliver(alert, pagerduty, "acknowledged")
    alert.resolved, alert.resolved_at = True, timezone.now()
    alert.save()
    deliver(alert, pagerduty, "resolved")

    trigger, acknowledge, resolve = events(httpserver)
    assert [e["event_action"] for e in (trigger, acknowledge, resolve)] == ["trigger", "acknowledge", "resolve"]
    assert {e["dedup_key"] for e in (trigger, acknowledge, resolve)} == {str(alert.pk)}
    assert {e["routing_key"] for e in (trigger, acknowledge, resolve)} == {ROUTING_KEY}
    payload = trigger["payload"]
    assert payload["summary"] == "[CRITICAL] Order sync failed"
    assert (payload["severity"], payload["source"], payload["component"]) == ("critical", "Order sync", "Order sync")
    assert payload["custom_details"]["description"] == "3 of the last 4 executions failed."
    link = f"{settings.FLOWTOWER_BASE_URL}/alerts/{alert.pk}/"
    assert trigger["links"] == [{"href": link, "text": "Open in Flowtower"}] and trigger["client_url"] == link
    assert "payload" not in resolve
    assert [d.status for d in pagerduty.deliveries.all()] == ["sent"] * 3


def test_a_test_event_triggers_and_resolves_at_once(pagerduty, httpserver):
    sent = delivery.send_test(pagerduty)
    assert (sent.status, sent.response_code) == ("sent", 202)
    trigger, resolve = events(httpserver)
    assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
    assert trigger["dedup_key"] == resolve["dedup_key"] == f"flowtower-test-msg_{sent.pk}"
    assert trigger["payload"]["severity"] == "info"


def test_an_invalid_event_answer_is_recorded_and_not_retried(alert, make_channel, httpserver, deliver):
    httpserver.expect_request("/v2/enqueue").respond_with_json(
        {"status": "invalid event", "errors": ["'routing_key' is invalid"]}, status=400)
    channel = make_channel("pagerduty", config={"events_url": httpserver.url_for("/v2/enqueue")},
                           secrets={"routing_key": "wrong"})
    [failed] = deliver(alert, channel)
    assert (failed.status, failed.response_code) == ("failed", 400)
    assert "routing_key" in failed.response_excerpt
