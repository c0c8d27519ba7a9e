"""What /metrics reports after data goes in through the REST API and monitoring's ingestion: each
execution counted once when it becomes final (repeat posts and re-syncs add nothing), errors,
ingested records by kind and outcome, the workflow label's cap, deliveries, n8n sync runs and the
gauges read at scrape time (open alerts, n8n lag and failing, Celery queue length).

Counters live in this test process and only grow, so each test compares before and after. On-commit
callbacks run as a commit runs them (django_capture_on_commit_callbacks)."""

import redis
import pytest
from celery import current_app
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from alerts import delivery
from alerts.channels import webhook
from alerts.models import Channel
from alerts.tasks import notification_pass
from monitoring.ingest import ingest
from monitoring.metrics import labels
from monitoring.models import ServiceToken
from monitoring.schemas import validate_records
from n8n_mirror import health
from n8n_mirror.models import N8nInstance

TOKEN = "metrics-token-0123456789abcdef"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def metrics_open(settings):
    settings.FLOWTOWER_METRICS_TOKEN, settings.FLOWTOWER_METRICS_ALLOWED_NETWORKS = TOKEN, []
    labels.forget()
    yield
    labels.forget()


def scrape():
    """{(name, frozenset(labels)): value} from a real GET /metrics."""
    response = Client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.content.decode()) for s in family.samples}


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


class Counts:
    """The change of chosen samples between now and `after()`."""

    def __init__(self, *wanted):
        self.wanted = wanted  # (name, {labels})
        self.before = scrape()

    def after(self):
        now = scrape()
        return [value(now, name, **lbl) - value(self.before, name, **lbl) for name, lbl in self.wanted]


@pytest.fixture
def post(team, django_capture_on_commit_callbacks):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {ServiceToken.issue(team, 'metrics')[1]}")

    def run(path, body, method="post"):
        with django_capture_on_commit_callbacks(execute=True):
            return getattr(client, method)(path, body, format="json")

    return run


def executions(workflow, status, team="acme"):
    return ("flowtower_executions_total", {"team": team, "workflow": workflow, "status": status})


def test_an_execution_counts_once_when_it_becomes_final(post):
    counts = Counts(executions("orders", "success"), executions("orders", "error"),
                    ("flowtower_execution_duration_seconds_count", {"team": "acme", "workflow": "orders"}),
                    ("flowtower_execution_duration_seconds_sum", {"team": "acme", "workflow": "orders"}),
                    ("flowtower_ingested_records_total", {"kind": "execution", "outcome": "accepted"}),
                    ("flowtower_ingested_records_total", {"kind": "execution", "outcome": "duplicate"}))
    run = {"workflow_id": "orders", "execution_id": "run-1"}
    assert post("/api/v1/executions/", {**run, "state": "running"}).status_code == 201
    assert counts.after() == [0, 0, 0, 0, 1, 0]
    assert post("/api/v1/executions/", {**run, "state": "success", "duration_ms": 1500}).status_code == 200
    assert counts.after() == [1, 0, 1, 1.5, 2, 0]
    # The same post again (a client retrying) and a later performance record change nothing here.
    assert post("/api/v1/executions/", {**run, "state": "success", "duration_ms": 1500}).status_code == 200
    assert post("/api/v1/performance/", {**run, "total_duration": 1500, "failed_nodes": 0}).status_code == 201
    assert counts.after() == [1, 0, 1, 1.5, 2, 1]


def test_records_that_finish_an_execution_count_it_once(post):
    counts = Counts(executions("billing", "error"), executions("billing", "success"),
                    ("flowtower_errors_total", {"team": "acme", "error_type": "network", "severity": "high"}))
    run = {"workflow_id": "billing", "execution_id": "b-1"}
    post("/api/v1/logs/", {**run, "log_level": "info", "message": "started"})
    assert counts.after() == [0, 0, 0]
    error = {**run, "error_type": "network", "severity": "high", "error_message": "refused"}
    assert post("/api/v1/errors/", error).status_code == 201
    assert counts.after() == [1, 0, 1]
    # A second error and the performance record: the error is counted, the execution is not again.
    assert post("/api/v1/errors/", error).status_code == 201
    assert post("/api/v1/performance/", {**run, "total_duration": 900, "failed_nodes": 1}).status_code == 201
    assert counts.after() == [1, 0, 2]


def test_a_resync_of_the_same_execution_counts_nothing_twice(team, django_capture_on_commit_callbacks):
    """The n8n mirror re-sends an execution whole (replace=True) each time it reads it again."""
    counts = Counts(executions("n8n-7", "error"),
                    ("flowtower_errors_total", {"team": "acme", "error_type": "timeout", "severity": "high"}),
                    ("flowtower_ingested_records_total", {"kind": "execution", "outcome": "accepted"}),
                    ("flowtower_ingested_records_total", {"kind": "execution", "outcome": "duplicate"}))
    started = timezone.now() - timezone.timedelta(minutes=1)
    run = {"workflow_id": "n8n-7", "execution_id": "901"}
    records = {
        "execution": [{**run, "state": "error", "started_at": started, "stopped_at": started + timezone.timedelta(seconds=3),
                       "duration_ms": 3000}],
        "error": [{**run, "error_type": "timeout", "severity": "high", "error_message": "timed out", "timestamp": started}],
    }
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            ingest(team, records, source="n8n:1", replace=True)
    assert counts.after() == [1, 1, 1, 2]


def test_ingested_records_by_kind_and_outcome(post):
    def c(kind, outcome):
        return ("flowtower_ingested_records_total", {"kind": kind, "outcome": outcome})

    counts = Counts(c("log", "accepted"), c("log", "rejected"), c("alert", "accepted"), c("alert", "duplicate"),
                    c("performance", "accepted"))
    run = {"workflow_id": "orders", "execution_id": "r-2"}
    assert post("/api/v1/logs/", {**run, "log_level": "info", "message": "ok"}).status_code == 201
    assert post("/api/v1/logs/", {**run, "log_level": "loud", "message": "bad level"}).status_code == 400
    alert = {"workflow_id": "orders", "alert_type": "error", "severity": "warning", "title": "Orders failing"}
    assert post("/api/v1/alerts/", alert).status_code == 201
    assert post("/api/workflows/monitoring?type=alert", alert).status_code == 200  # a repeat of the open alert
    batch = {"logs": [{**run, "log_level": "info", "message": "a"}, {**run, "log_level": "warn", "message": "b"}],
             "performance": [{**run, "total_duration": 10}]}
    assert post("/api/workflows/monitoring?type=batch", batch).status_code == 201
    assert counts.after() == [3, 1, 1, 1, 1]
    # A batch with one bad item writes nothing: its bad item is rejected, the good one is not counted.
    bad_batch = {"logs": [{**run, "log_level": "info", "message": "a"}, {**run, "message": "no level"}]}
    assert post("/api/workflows/monitoring?type=batch", bad_batch).status_code == 400
    assert counts.after() == [3, 2, 1, 1, 1]


def test_workflows_beyond_the_cap_are_counted_as_other(post, settings):
    settings.FLOWTOWER_METRICS_MAX_WORKFLOWS = 2
    names = ["wf-a", "wf-b", "wf-c", "wf-d"]
    counts = Counts(*(executions(name, "success") for name in [*names, "other"]))
    for name in names:  # registered in this order: wf-a and wf-b are the team's first two
        post("/api/v1/executions/", {"workflow_id": name, "execution_id": "1", "state": "success"})
    assert counts.after() == [1, 1, 0, 0, 2]
    # The rule is the database's, not this process's memory: another process decides the same.
    labels.forget()
    for name in reversed(names):
        post("/api/v1/executions/", {"workflow_id": name, "execution_id": "2", "state": "success"})
    assert counts.after() == [2, 2, 0, 0, 4]


def test_open_and_unacknowledged_alerts_are_read_at_scrape_time(post, other_team):
    for severity, title in (("critical", "A"), ("critical", "B"), ("info", "C")):
        post("/api/v1/alerts/", {"workflow_id": "orders", "alert_type": "error", "severity": severity, "title": title})
    samples = scrape()
    assert value(samples, "flowtower_alerts_open", team="acme", severity="critical") == 2
    assert value(samples, "flowtower_alerts_open", team="acme", severity="info") == 1
    assert value(samples, "flowtower_alerts_unacknowledged", team="acme", severity="critical") == 2
    # Every team and severity is answered, 0 included.
    assert ("flowtower_alerts_open", frozenset({"team": "globex", "severity": "warning"}.items())) in samples
    first = post("/api/workflows/monitoring?type=alert", {"workflow_id": "orders", "alert_type": "error",
                                                          "severity": "critical", "title": "A"}).json()
    alert_id = first.get("data", first).get("id")
    assert post(f"/api/v1/alerts/{alert_id}/", {"acknowledged": True}, method="patch").status_code == 200
    samples = scrape()
    assert value(samples, "flowtower_alerts_open", team="acme", severity="critical") == 2
    assert value(samples, "flowtower_alerts_unacknowledged", team="acme", severity="critical") == 1
    assert post(f"/api/v1/alerts/{alert_id}/", {"resolved": True}, method="patch").status_code == 200
    assert value(scrape(), "flowtower_alerts_open", team="acme", severity="critical") == 1


def test_deliveries_by_channel_kind_and_outcome(team, httpserver, django_capture_on_commit_callbacks):
    from monitoring.services import raise_alert

    alert, _ = raise_alert(team, fingerprint="f-1", alert_type="error", severity="critical", title="Down")
    httpserver.expect_request("/ok").respond_with_data("", status=204)
    httpserver.expect_request("/refused").respond_with_data("no", status=400)  # a 4xx is not retried

    def channel(name, path):
        c = Channel(team=team, name=name, kind="webhook")
        delivery.set_secrets(c, {"url": httpserver.url_for(path), "signing_secret": webhook.generate_signing_secret()},
                             save=False)
        c.save()
        return c

    counts = Counts(("flowtower_notification_deliveries_total", {"channel_kind": "webhook", "outcome": "sent"}),
                    ("flowtower_notification_deliveries_total", {"channel_kind": "webhook", "outcome": "failed"}))
    with django_capture_on_commit_callbacks(execute=True):
        delivery.notify(alert, channel("good", "/ok"), "firing")
        delivery.notify(alert, channel("bad", "/refused"), "firing")
    assert counts.after() == [1, 1]


def test_n8n_sync_runs_lag_and_failing(team, django_capture_on_commit_callbacks):
    instance = N8nInstance.objects.create(team=team, name="prod n8n", api_url="http://127.0.0.1:1")
    runs = Counts(("flowtower_n8n_sync_runs_total", {"team": "acme", "instance": "prod n8n", "outcome": "success"}),
                  ("flowtower_n8n_sync_runs_total", {"team": "acme", "instance": "prod n8n", "outcome": "failure"}))
    with django_capture_on_commit_callbacks(execute=True):
        health.record_failure(instance, "connection refused")
        health.record_failure(instance, "connection refused")
    assert runs.after() == [0, 2]
    samples = scrape()
    assert value(samples, "flowtower_n8n_instance_failing", team="acme", instance="prod n8n") == 1
    assert value(samples, "flowtower_n8n_sync_lag_seconds", team="acme", instance="prod n8n") >= 0
    long_ago = timezone.now() - timezone.timedelta(minutes=10)
    N8nInstance.objects.filter(pk=instance.pk).update(last_success_at=long_ago)
    assert 600 <= value(scrape(), "flowtower_n8n_sync_lag_seconds", team="acme", instance="prod n8n") < 660
    with django_capture_on_commit_callbacks(execute=True):
        health.record_success(instance)
    N8nInstance.objects.filter(pk=instance.pk).update(last_success_at=timezone.now())
    samples = scrape()
    assert value(samples, "flowtower_n8n_instance_failing", team="acme", instance="prod n8n") == 0
    assert value(samples, "flowtower_n8n_sync_lag_seconds", team="acme", instance="prod n8n") < 60
    assert runs.after() == [1, 2]


@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")  # send_task publishes even so
def test_celery_task_runs_and_the_queue_length(team):
    counts = Counts(("flowtower_celery_tasks_total", {"task": "alerts.tasks.notification_pass", "outcome": "succeeded"}),
                    ("flowtower_celery_task_duration_seconds_count", {"task": "alerts.tasks.notification_pass"}))
    notification_pass.delay()  # eager in the tests: it runs here, through Celery's tracer and signals
    assert counts.after() == [1, 1]
    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    broker.delete("celery")
    try:
        for _ in range(3):  # published to the real Redis broker: nobody consumes it here
            current_app.send_task("alerts.tasks.notification_pass")
        assert value(scrape(), "flowtower_celery_queue_length", queue="celery") == 3
    finally:
        broker.delete("celery")
    assert value(scrape(), "flowtower_celery_queue_length", queue="celery") == 0


def test_rejected_counts_records_that_fail_validation():
    counts = Counts(("flowtower_ingested_records_total", {"kind": "error", "outcome": "rejected"}))
    validate_records("error", [{"workflow_id": "w"}, {"workflow_id": "w", "execution_id": "1", "error_message": "x"},
                               "not an object"])
    assert counts.after() == [2]


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_one_finished_execution_count_it_once(team):
    """Two clients report the same finished execution at the same moment (a retry racing the
    original): the execution's row lock lets only the first see it become final."""
    import threading

    from django.db import connection

    api_token = ServiceToken.issue(team, "race")[1]
    counts = Counts(executions("race", "success"), executions("race", "error"))
    barrier = threading.Barrier(4)
    statuses = []

    def report(path, body):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token}")
        try:
            barrier.wait()
            statuses.append(client.post(path, body, format="json").status_code)
        finally:
            connection.close()

    run = {"workflow_id": "race", "execution_id": "r-1"}
    threads = [threading.Thread(target=report, args=("/api/v1/executions/", {**run, "state": "success"})),
               threading.Thread(target=report, args=("/api/v1/executions/", {**run, "state": "success"})),
               threading.Thread(target=report, args=("/api/v1/performance/", {**run, "total_duration": 5})),
               threading.Thread(target=report, args=("/api/v1/errors/", {**run, "error_message": "late"}))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(statuses) == 4 and all(s in (200, 201) for s in statuses), statuses
    # Success, or error when the error record came first: one execution, counted once.
    assert sum(counts.after()) == 1


def test_a_batch_of_finished_executions_asks_for_each_workflow_s_label_once(team, settings,
                                                                             django_capture_on_commit_callbacks):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.FLOWTOWER_METRICS_MAX_WORKFLOWS = 0  # every workflow is "other": asked each time
    counts = Counts(executions("other", "success"))
    records = {"execution": [{"workflow_id": "bulk", "execution_id": str(n), "state": "success"} for n in range(50)]}
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        ingest(team, records)
    label_queries = [q["sql"] for q in queries if "COUNT(" in q["sql"] and "monitoring_workflow" in q["sql"]]
    assert len(label_queries) == 1
    assert counts.after() == [50]


def test_the_redis_cache_counts_gets_hits_and_misses():
    """Django's Redis cache (settings' backend, on the real Redis) with django-prometheus' counters."""
    from django.core.cache import cache

    def c(name):
        return (name, {"backend": "redis"})

    counts = Counts(c("django_cache_get_total"), c("django_cache_get_hits_total"), c("django_cache_get_misses_total"))
    cache.set("metrics-test", 0)  # a falsy value is still a hit
    assert cache.get("metrics-test") == 0
    assert cache.get("metrics-test-missing", "default") == "default"
    assert counts.after() == [2, 1, 1]
