"""Deliveries (alerts.delivery): a notification is sent after commit, every attempt is a Delivery
row, failures that may pass (5xx, 429, timeouts) are retried up to FLOWTOWER_DELIVERY_MAX_ATTEMPTS
and others (4xx, a refused address) are not, a channel failing FLOWTOWER_CHANNEL_FAILING_AFTER
notifications in a row is marked failing until a success, and "send test" answers at once.
The receiver is a real local HTTP server; Celery is eager, so retries run inline."""

import time

import pytest
from alerting_channels_world import alert, deliver, make_channel, workflow  # noqa: F401
from django.test import override_settings
from werkzeug import Response

from alerts import delivery
from alerts.models import Delivery

SIGNING_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def webhook(make_channel, httpserver):
    return make_channel("webhook", secrets={"url": httpserver.url_for("/hook/SECRET-PATH"),
                                            "signing_secret": SIGNING_SECRET})


def attempts(deliveries):
    return [(d.attempt, d.status, d.response_code) for d in deliveries]


def test_notify_sends_after_commit_and_records_the_delivery(alert, webhook, httpserver,
                                                            django_capture_on_commit_callbacks):
    httpserver.expect_request("/hook/SECRET-PATH", method="POST").respond_with_data("thanks")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        pending = delivery.notify(alert, webhook, "firing")
    assert pending.status == "pending" and httpserver.log == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()
    pending.refresh_from_db()
    assert (pending.status, pending.response_code, pending.response_excerpt) == ("sent", 200, "thanks")
    assert pending.alert == alert and pending.event == "firing" and pending.finished_at
    webhook.refresh_from_db()
    assert webhook.last_success_at and webhook.consecutive_failures == 0


def test_a_disabled_channel_is_not_sent_to(alert, webhook, httpserver, deliver):
    webhook.enabled = False
    webhook.save()
    assert deliver(alert, webhook) == []
    assert httpserver.log == []


def test_a_failing_receiver_is_retried_and_every_attempt_recorded(alert, webhook, httpserver, deliver):
    httpserver.expect_oneshot_request("/hook/SECRET-PATH").respond_with_data("down for maintenance", status=500)
    httpserver.expect_oneshot_request("/hook/SECRET-PATH").respond_with_data("slow down", status=429)
    httpserver.expect_oneshot_request("/hook/SECRET-PATH").respond_with_data("ok", status=200)
    deliveries = deliver(alert, webhook)
    assert attempts(deliveries) == [(1, "retrying", 500), (2, "retrying", 429), (3, "sent", 200)]
    assert deliveries[0].response_excerpt == "down for maintenance"
    assert "500" in deliveries[0].error
    # One message, three attempts: receivers drop duplicates by its webhook-id.
    ids = {request.headers["webhook-id"] for request, _ in httpserver.log}
    assert len(ids) == 1 and len(httpserver.log) == 3
    assert webhook.consecutive_failures == 0 and webhook.last_success_at


def test_a_client_error_is_not_retried(alert, webhook, httpserver, deliver):
    httpserver.expect_request("/hook/SECRET-PATH").respond_with_data("unknown hook", status=400)
    deliveries = deliver(alert, webhook)
    assert attempts(deliveries) == [(1, "failed", 400)]
    assert deliveries[0].response_excerpt == "unknown hook"
    assert webhook.consecutive_failures == 1 and webhook.last_failure_at


@override_settings(FLOWTOWER_DELIVERY_MAX_ATTEMPTS=3)
def test_retries_stop_after_the_maximum_attempts(alert, webhook, httpserver, deliver):
    httpserver.expect_request("/hook/SECRET-PATH").respond_with_data("", status=503)
    assert attempts(deliver(alert, webhook)) == [(1, "retrying", 503), (2, "retrying", 503), (3, "failed", 503)]
    assert webhook.consecutive_failures == 1  # one notification failed, after its retries


@override_settings(FLOWTOWER_DELIVERY_TIMEOUT=0.3, FLOWTOWER_DELIVERY_MAX_ATTEMPTS=2)
def test_a_timeout_is_recorded_as_a_retryable_failure(alert, webhook, httpserver, deliver):
    def sleepy(request):
        time.sleep(1)
        return Response("too late")

    httpserver.expect_request("/hook/SECRET-PATH").respond_with_handler(sleepy)
    deliveries = deliver(alert, webhook)
    assert attempts(deliveries) == [(1, "retrying", None), (2, "failed", None)]
    assert all("timed out" in d.error for d in deliveries)
    assert all("SECRET-PATH" not in d.error for d in deliveries)


@override_settings(FLOWTOWER_CHANNEL_FAILING_AFTER=3, FLOWTOWER_DELIVERY_MAX_ATTEMPTS=1)
def test_a_channel_is_failing_after_n_failed_notifications_until_a_success(alert, webhook, httpserver, deliver):
    httpserver.expect_request("/hook/SECRET-PATH").respond_with_data("", status=500)
    for expected in (False, False, True):
        deliver(alert, webhook, "repeat")
        assert delivery.is_failing(webhook) is expected
    assert webhook.consecutive_failures == 3

    httpserver.clear()
    httpserver.expect_request("/hook/SECRET-PATH").respond_with_data("back")
    deliver(alert, webhook, "repeat")
    assert webhook.consecutive_failures == 0 and not delivery.is_failing(webhook)


@override_settings(FLOWTOWER_ALLOW_PRIVATE_OUTBOUND=False)
def test_a_refused_address_fails_at_once_without_showing_the_url(alert, webhook, httpserver, deliver):
    deliveries = deliver(alert, webhook)
    assert attempts(deliveries) == [(1, "failed", None)]
    assert "refused" in deliveries[0].error and "SECRET-PATH" not in deliveries[0].error
    assert httpserver.log == []


def test_a_missing_key_fails_the_delivery_naming_the_setting(alert, webhook, deliver):
    with override_settings(FLOWTOWER_ENCRYPTION_KEYS=[]):
        deliveries = deliver(alert, webhook)
    assert attempts(deliveries) == [(1, "failed", None)]
    assert "FLOWTOWER_ENCRYPTION_KEYS" in deliveries[0].error


def test_send_test_answers_at_once_without_retries(webhook, httpserver):
    httpserver.expect_oneshot_request("/hook/SECRET-PATH").respond_with_data("x" * 2000, status=502)
    failed = delivery.send_test(webhook, actor="ada")
    assert (failed.event, failed.status, failed.response_code, failed.alert) == ("test", "failed", 502, None)
    assert len(failed.response_excerpt) <= 500 and len(failed.error) <= 500
    assert Delivery.objects.filter(channel=webhook).count() == 1

    httpserver.expect_oneshot_request("/hook/SECRET-PATH").respond_with_data("ok")
    sent = delivery.send_test(webhook, actor="ada")
    assert (sent.status, sent.response_code) == ("sent", 200)
    body = httpserver.log[-1][0].get_json()
    assert body["type"] == "alert.test" and "ada" in body["data"]["description"]


def test_a_task_delivered_twice_sends_once(alert, webhook, httpserver, deliver):
    httpserver.expect_request("/hook/SECRET-PATH").respond_with_data("ok")
    [done] = deliver(alert, webhook)
    assert delivery.attempt(done.pk) is None
    assert len(httpserver.log) == 1


def test_backoff_grows_exponentially_up_to_a_cap():
    assert [delivery.backoff_seconds(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert delivery.backoff_seconds(30) == delivery.BACKOFF_CAP_SECONDS
