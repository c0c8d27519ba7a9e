"""The shipped prometheus.yml in a real Prometheus (Debian's package) scraping a live Flowtower
(Daphne on the test database): only the web target and the token file are pointed at this
machine, the scrape and evaluation intervals shortened. The token gets in, the alert rules load
and evaluate, and the n8n instance's name arrives as the label n8n_instance (and Prometheus'
exported_instance), with `instance` left to the target — what the rules and the dashboards
select on."""

import json
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from django.db import connection

from daphne_server import DaphneServer, database_url, free_port
from n8n_mirror.models import N8nInstance

pytestmark = [pytest.mark.stack_validation, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = shutil.which("prometheus")
TOKEN = "stack-scrape-test-token-0123456789"


@pytest.fixture(scope="module")
def flowtower(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        url = database_url(connection.settings_dict)
    with DaphneServer(env={"DATABASE_URL": url, "FLOWTOWER_METRICS_TOKEN": TOKEN,
                           "FLOWTOWER_METRICS_ALLOWED_NETWORKS": ""}) as daphne:
        yield daphne


def local_config(directory, web_address):
    """The shipped file; the web job's target here, the token in a file as compose's secret is;
    the other jobs dropped (their targets are compose services)."""
    text = (ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text()
    (directory / "token").write_text(TOKEN)
    text = text.replace("/run/secrets/flowtower_metrics_token", str(directory / "token"))
    text = text.replace("/etc/prometheus/rules/*.yml", str(ROOT / "deploy" / "prometheus" / "rules" / "*.yml"))
    config = yaml.safe_load(text)
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["scrape_configs"] = [job for job in config["scrape_configs"] if job["job_name"] == "flowtower-web"]
    config["scrape_configs"][0]["static_configs"] = [{"targets": [web_address]}]
    config.pop("alerting")
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


class Prometheus:
    def __init__(self, config_path, directory):
        self.port = free_port()
        self.log_path = directory / "prometheus.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [PROMETHEUS, f"--config.file={config_path}", f"--storage.tsdb.path={directory / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"], stdout=log, stderr=subprocess.STDOUT)

    def api(self, path, **params):
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=5) as answer:
            return json.load(answer)["data"]

    def wait(self, what, predicate, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                found = predicate()
                if found:
                    return found
            except OSError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.5)
        pytest.fail(f"{what}\n--- prometheus log ---\n{self.log_path.read_text()[-3000:]}")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)


@pytest.mark.skipif(not PROMETHEUS, reason="prometheus is not installed (scripts/ensure_observability_tools.sh)")
def test_a_real_prometheus_scrapes_flowtower_with_the_shipped_configuration(flowtower, team):
    N8nInstance.objects.create(team=team, name="prod n8n", api_url="https://n8n.example.com")
    directory = Path(tempfile.mkdtemp(prefix="prometheus-"))
    web = flowtower.url.removeprefix("http://")
    prometheus = Prometheus(local_config(directory, web), directory)
    try:
        # Up means /metrics answered 200: the token from the file got in (else 401, and down).
        target = prometheus.wait("Flowtower was not scraped", lambda: [
            t for t in prometheus.api("targets")["activeTargets"] if t["health"] == "up"])
        assert target[0]["labels"] == {"instance": web, "job": "flowtower-web"}

        lag = prometheus.wait("no n8n sync lag series", lambda: prometheus.api(
            "query", query="flowtower_n8n_sync_lag_seconds")["result"])
        assert [series["metric"] for series in lag] == [{
            "__name__": "flowtower_n8n_sync_lag_seconds", "job": "flowtower-web", "instance": web,
            "team": team.slug, "n8n_instance": "prod n8n", "exported_instance": "prod n8n"}]
        # Django's own metrics arrive under the names the rules read.
        prometheus.wait("no HTTP latency histogram", lambda: prometheus.api(
            "query", query='django_http_requests_latency_seconds_by_view_method_bucket{job="flowtower-web"}')["result"])

        groups = prometheus.wait("the rules did not load", lambda: prometheus.api("rules")["groups"])
        rules = [rule for group in groups for rule in group["rules"]]
        assert len(rules) == 15
        prometheus.wait("the rules were not all evaluated", lambda: all(
            rule.get("lastEvaluation", "").startswith("2") and rule["health"] == "ok"
            for group in prometheus.api("rules")["groups"] for rule in group["rules"]))
        # Scraped and up: the web is not reported down.
        states = {rule["name"]: rule["state"] for group in prometheus.api("rules")["groups"] for rule in group["rules"]}
        assert states["FlowtowerWebDown"] == "inactive"
    finally:
        prometheus.stop()
        shutil.rmtree(directory, ignore_errors=True)
