"""`promtool check metrics` (Prometheus' own linter) on a real /metrics response: a Daphne process
as production runs it, in multiprocess mode, after an execution, an error and an alert were posted
through the REST API, so Flowtower's labelled counters and histograms are in the text it checks."""

import json
import shutil
import subprocess
import urllib.request

import pytest
from django.conf import settings

from monitoring.models import ServiceToken, Team
from tests.daphne_server import DaphneServer, database_url

TOKEN = "metrics-token-0123456789abcdef"

pytestmark = [pytest.mark.stack_validation, pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian package prometheus)")]


def _request(url, body=None, token=None, method=None):
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                     method=method or ("POST" if body is not None else "GET"),
                                     headers={"Content-Type": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=20) as response:
        return response.status, response.read()


def test_promtool_finds_nothing_to_fix_in_a_real_metrics_response(tmp_path):
    team = Team.objects.create(slug="acme", name="Acme")
    api_token = ServiceToken.issue(team, "ci")[1]
    (tmp_path / "prom").mkdir()
    env = {"DATABASE_URL": database_url(settings.DATABASES["default"]), "DJANGO_SETTINGS_MODULE": "config.settings_test",
           "FLOWTOWER_METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}
    with DaphneServer(env=env) as web:
        run = {"workflow_id": "orders", "execution_id": "1"}
        assert _request(f"{web.url}/api/v1/executions/", {**run, "state": "success", "duration_ms": 1200},
                        api_token)[0] == 201
        assert _request(f"{web.url}/api/v1/errors/", {**run, "error_message": "boom", "severity": "high"},
                        api_token)[0] == 201
        assert _request(f"{web.url}/api/v1/alerts/", {"workflow_id": "orders", "alert_type": "error",
                                                      "severity": "critical", "title": "Orders down"}, api_token)[0] == 201
        status, body = _request(f"{web.url}/metrics", token=TOKEN)
    assert status == 200
    assert list((tmp_path / "prom").glob("counter_*.db"))  # multiprocess mode: counters kept in files
    text = body.decode()
    for needed in ('flowtower_executions_total{status="success",team="acme",workflow="orders"}',
                   "flowtower_execution_duration_seconds_bucket", 'flowtower_alerts_open{severity="critical",team="acme"}',
                   "django_http_requests_latency_seconds_by_view_method_bucket", "django_db_execute_total"):
        assert needed in text, needed
    result = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert result.stdout.decode().strip() == "" and result.stderr.decode().strip() == ""
