"""The Celery broker (Redis) goes down: alerts are still raised and their deliveries recorded, the
web process does not try the dead broker on every commit, and once Redis is back the deliveries
that waited are sent. A private redis-server is the broker, stopped and started by the test."""

import logging
from datetime import timedelta

import pytest
import time_machine
from celery import current_app
from django.utils import timezone

from alerts.channels.webhook import generate_signing_secret
from alerts.models import AlertRule, Channel, Delivery, Route
from alerts.rules.registry import validate_rule
from alerts.tasks import notification_pass
from monitoring import dispatch
from monitoring.models import Alert
from monitoring.services import create_execution
from tests.alerting_channels_world import make_channel  # noqa: F401  (fixture)
from tests.celery_pools import close_broker_connections
from tests.fault.servers import RedisServer


reset_connections = close_broker_connections  # the next publish connects to the broker now configured


@pytest.fixture
def broker(tmp_path):
    """Celery publishing (not eager) to a private redis-server; the test settings restored after."""
    server = RedisServer(tmp_path)
    server.start()
    conf = current_app.conf
    saved = conf.broker_url, conf.task_always_eager
    conf.broker_url, conf.task_always_eager = server.url(0), False
    reset_connections()
    dispatch.reset()
    try:
        yield server
    finally:
        conf.broker_url, conf.task_always_eager = saved
        reset_connections()
        dispatch.reset()
        if server.proc is not None:
            server.stop()


@pytest.fixture
def alerting(team, make_channel, httpserver):  # noqa: F811
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    channel = make_channel("webhook", secrets={"url": httpserver.url_for("/hook"),
                                               "signing_secret": generate_signing_secret()})
    Route.objects.create(team=team, name="all", channel=channel)
    rule = AlertRule(team=team, name="failed", kind="execution_failed", params={}, severity="critical")
    validate_rule(rule)
    rule.save()
    return channel


def fail(team, capture, workflow_id):
    with capture(execute=True):
        create_execution(team, {"workflow_id": workflow_id, "execution_id": "e1", "state": "error"})


def queued(server):
    import redis

    return redis.Redis.from_url(server.url(0)).llen("celery")


def test_alerts_are_raised_while_the_broker_is_down_and_their_deliveries_sent_when_it_is_back(
        team, alerting, broker, httpserver, django_capture_on_commit_callbacks, caplog):
    capture = django_capture_on_commit_callbacks
    # Broker up: the evaluation goes to Celery (queued for a worker), nothing runs in the request.
    fail(team, capture, "wf-1")
    assert queued(broker) == 1 and not Alert.objects.exists()

    broker.stop()
    with caplog.at_level(logging.WARNING, logger="monitoring.dispatch"):
        fail(team, capture, "wf-2")
        fail(team, capture, "wf-3")
    # The rule still ran (here, in the writing process): both failures raised their alert …
    alerts = Alert.objects.filter(source="rule").order_by("workflow__external_id")
    assert [a.workflow.external_id for a in alerts] == ["wf-2", "wf-3"]
    # … and the notifications are recorded, waiting for the broker rather than sent from the request.
    assert set(Delivery.objects.values_list("alert__workflow__external_id", "status", "event")) == {
        ("wf-2", "pending", "firing"), ("wf-3", "pending", "firing")}
    assert len(httpserver.log) == 0
    # One warning for the outage, and the second commit did not try the dead broker again.
    warnings = [r for r in caplog.records if "broker unreachable" in r.getMessage()]
    assert len(warnings) == 1 and dispatch.broker_down()

    broker.start()
    dispatch.reset()  # the circuit's few seconds have passed
    current_app.conf.task_always_eager = True  # a worker runs what is queued from here on
    with time_machine.travel(timezone.now() + timedelta(minutes=3)), capture(execute=True):
        notification_pass.delay()
    assert set(Delivery.objects.filter(attempt=1).values_list("status", flat=True)) == {"sent"}
    assert len(httpserver.log) == 2
    assert Channel.objects.get().consecutive_failures == 0


def test_a_pending_delivery_is_not_sent_again_before_its_retry_is_due(team, alerting, broker,
                                                                        django_capture_on_commit_callbacks):
    broker.stop()
    fail(team, django_capture_on_commit_callbacks, "wf-2")
    delivery = Delivery.objects.get()
    broker.start()
    dispatch.reset()
    current_app.conf.task_always_eager = True
    # A minute later it may still be on its way (a worker busy, a queue backed up): left alone.
    with time_machine.travel(timezone.now() + timedelta(minutes=1)):
        notification_pass()
    delivery.refresh_from_db()
    assert delivery.status == "pending"
