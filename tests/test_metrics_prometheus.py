"""A real Prometheus scrapes a running Flowtower — a Daphne web process and a Celery worker, each in
multiprocess mode with a directory of its own, as two containers run them — with the metrics token.
After executions are posted through the REST API and an alert is delivered by the worker to a
webhook receiver, Prometheus' query API returns the counts: executions and open alerts from the
web process, the delivery and the task runs from the worker."""

import json
import os
import shutil
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from alerts import delivery
from alerts.channels import webhook
from alerts.models import Channel, Route
from monitoring.models import ServiceToken, Team
from tests.child_process import Process
from tests.daphne_server import DaphneServer, database_url, free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "metrics-token-0123456789abcdef"

pytestmark = [pytest.mark.stack_validation, pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus (Debian package prometheus)")]


def _post(url, body, token):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=20) as response:
        return response.status


def _query(prometheus_port, expression):
    url = f"http://127.0.0.1:{prometheus_port}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.load(response)
    assert answer["status"] == "success", answer
    return [float(r["value"][1]) for r in answer["data"]["result"]]


def _wait_for(prometheus_port, expected, processes, timeout=90):
    """Poll until every expression returns its expected value; on timeout, say which did not."""
    deadline = time.monotonic() + timeout
    while True:
        got = {}
        for expression in expected:
            try:
                got[expression] = _query(prometheus_port, expression)
            except OSError:
                got[expression] = None
        if all(got[e] == [v] for e, v in expected.items()):
            return got
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {name}\n{p.log()[-3000:]}" for name, p in processes.items())
            pytest.fail(f"Prometheus answered {got}, expected {expected}\n{logs}")
        time.sleep(1)


def _config(web_port, worker_port, token_file):
    jobs = []
    for job, port in (("flowtower-web", web_port), ("flowtower-worker", worker_port)):
        jobs.append({"job_name": job, "metrics_path": "/metrics", "scrape_interval": "1s", "scrape_timeout": "1s",
                     "authorization": {"type": "Bearer", "credentials_file": str(token_file)},
                     "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]})
    # JSON is YAML: no YAML library needed.
    return json.dumps({"global": {"scrape_interval": "1s", "evaluation_interval": "1s"}, "scrape_configs": jobs})


def test_prometheus_reads_the_web_and_the_worker_counts(tmp_path, httpserver):
    team = Team.objects.create(slug="acme", name="Acme")
    api_token = ServiceToken.issue(team, "ci")[1]
    httpserver.expect_request("/hook", method="POST").respond_with_data("", status=204)
    channel = Channel(team=team, name="on-call hook", kind="webhook")
    delivery.set_secrets(channel, {"url": httpserver.url_for("/hook"),
                                   "signing_secret": webhook.generate_signing_secret()}, save=False)
    channel.save()
    Route.objects.create(team=team, name="everything", channel=channel)

    for name in ("web-prom", "worker-prom", "tsdb"):
        (tmp_path / name).mkdir()
    token_file = tmp_path / "metrics-token"
    token_file.write_text(TOKEN)
    common = {"DATABASE_URL": database_url(settings.DATABASES["default"]), "DJANGO_SETTINGS_MODULE": "config.settings_test",
              "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"), "CELERY_TASK_ALWAYS_EAGER": "false",
              "FLOWTOWER_METRICS_TOKEN": TOKEN}
    worker_port, prometheus_port = free_port(), free_port()
    web = DaphneServer(env={**common, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "web-prom")})
    worker_env = {**os.environ, **common, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "worker-prom"),
                  "FLOWTOWER_WORKER_METRICS_PORT": str(worker_port), "FLOWTOWER_WORKER_METRICS_ADDRESS": "127.0.0.1"}
    (tmp_path / "prometheus.yml").write_text(_config(web.port, worker_port, token_file))
    worker = Process([sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--loglevel=INFO",
                      "--without-gossip", "--without-mingle", "--without-heartbeat"], worker_env, tmp_path / "worker.log")
    prometheus = Process(["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
                          f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prometheus_port}"],
                         dict(os.environ), tmp_path / "prometheus.log")

    with web, worker, prometheus:
        for number, state in ((1, "success"), (2, "success"), (3, "error")):
            assert _post(f"{web.url}/api/v1/executions/", {"workflow_id": "orders", "execution_id": str(number),
                                                           "state": state, "duration_ms": 2000}, api_token) in (200, 201)
        # The same execution posted again is not counted again.
        assert _post(f"{web.url}/api/v1/executions/", {"workflow_id": "orders", "execution_id": "1", "state": "success",
                                                       "duration_ms": 2000}, api_token) == 200
        assert _post(f"{web.url}/api/v1/alerts/", {"workflow_id": "orders", "alert_type": "error",
                                                   "severity": "critical", "title": "Orders failing"}, api_token) == 201
        processes = {"web": web, "worker": worker, "prometheus": prometheus}
        _wait_for(prometheus_port, {
            'up{job="flowtower-web"}': 1,
            'up{job="flowtower-worker"}': 1,
            # from the web process
            'sum(flowtower_executions_total{job="flowtower-web",team="acme",workflow="orders",status="success"})': 2,
            'sum(flowtower_executions_total{job="flowtower-web",team="acme",workflow="orders",status="error"})': 1,
            'sum(flowtower_execution_duration_seconds_count{job="flowtower-web",workflow="orders"})': 3,
            'max(flowtower_alerts_open{job="flowtower-web",team="acme",severity="critical"})': 1,
            # from the worker: the alert's notification went out, through Celery tasks
            'sum(flowtower_notification_deliveries_total{job="flowtower-worker",channel_kind="webhook",outcome="sent"})': 1,
            'sum(flowtower_celery_tasks_total{job="flowtower-worker",task="alerts.tasks.deliver",outcome="succeeded"})': 1,
            'sum(flowtower_celery_task_duration_seconds_count{job="flowtower-worker",task="alerts.tasks.deliver"})': 1,
        }, processes)
    assert len(httpserver.log) == 1  # the receiver really got the notification
