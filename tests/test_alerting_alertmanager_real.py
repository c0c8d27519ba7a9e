"""A real Prometheus Alertmanager (Debian's prometheus-alertmanager, installed by `make test`)
posting to a live Flowtower (a Daphne process on the test database), configured with the README's
receiver block — only the URL and the token changed, timings shortened. An alert posted to
Alertmanager appears in Flowtower, firing, under Alertmanager's fingerprint; posted again with an
end in the past, it resolves in Flowtower. amtool also checks the README block as it is written."""

import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from django.db import connection

from monitoring.models import Alert, ServiceToken, Workflow

from daphne_server import DaphneServer, database_url, free_port

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
AMTOOL = shutil.which("amtool")
needs_alertmanager = pytest.mark.skipif(
    not (ALERTMANAGER and AMTOOL),
    reason="Prometheus Alertmanager is not installed (`make test` installs it: scripts/ensure_alertmanager.sh, "
           "Debian package prometheus-alertmanager)",
)


def readme_receiver_block() -> str:
    """The alertmanager.yml example under the README's "Alertmanager" heading."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n### Alertmanager\n", 1)[1]
    return re.search(r"```yaml\n(.*?)```", section, re.S).group(1)


@pytest.fixture(scope="module")
def flowtower(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        url = database_url(connection.settings_dict)
    with DaphneServer(env={"DATABASE_URL": url}) as daphne:
        yield daphne


@pytest.fixture
def settled(transactional_db):
    """After the test, before its tables are emptied: wait until the module's server has no
    transaction open on the test database (a late Alertmanager notification still being
    stored), or emptying the tables' partitions can deadlock with it."""
    yield
    for _ in range(100):
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')")
            if not cursor.fetchone()[0]:
                return
        time.sleep(0.1)


class Alertmanager:
    """One Alertmanager process on free 127.0.0.1 ports, clustering off, with its own storage."""

    def __init__(self, config: dict):
        self.dir = Path(tempfile.mkdtemp(prefix="alertmanager-"))
        self.port = free_port()
        (self.dir / "alertmanager.yml").write_text(yaml.safe_dump(config))
        self.log_path = self.dir / "alertmanager.log"
        self.process = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=20):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [ALERTMANAGER, f"--config.file={self.dir / 'alertmanager.yml'}", f"--storage.path={self.dir}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=", "--log.level=debug"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"alertmanager exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"alertmanager was not ready within {timeout} s:\n{self.log()}")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def post_alerts(self, alerts):
        """What Prometheus does: POST /api/v2/alerts."""
        request = urllib.request.Request(f"{self.url}/api/v2/alerts", data=json.dumps(alerts).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200

    def alerts(self):
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=5) as answer:
            return json.load(answer)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def config_for(flowtower_url, token):
    """The README's block pointed at this Flowtower with this token, with timings short enough for
    a test (group_wait / group_interval of a second, a short resolve_timeout)."""
    config = yaml.safe_load(readme_receiver_block())
    webhook = config["receivers"][0]["webhook_configs"][0]
    webhook["url"] = webhook["url"].replace("https://flowtower.example.com", flowtower_url)
    webhook["http_config"]["authorization"]["credentials"] = token
    config["route"].update(group_wait="1s", group_interval="1s", repeat_interval="1h")
    config["global"] = {"resolve_timeout": "30s"}
    return config


def wait_for(predicate, timeout, what, alertmanager, flowtower):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"{what} within {timeout} s.\n--- alertmanager log ---\n{alertmanager.log()[-4000:]}"
                f"\n--- daphne log ---\n{flowtower.log()[-4000:]}")


def iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


@needs_alertmanager
def test_the_readme_receiver_block_is_a_valid_alertmanager_config(tmp_path):
    path = tmp_path / "alertmanager.yml"
    path.write_text(readme_receiver_block())
    checked = subprocess.run([AMTOOL, "check-config", str(path)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@needs_alertmanager
def test_an_alert_from_a_real_alertmanager_fires_then_resolves_in_flowtower(flowtower, team):
    workflow = Workflow.objects.create(team=team, external_id="wf-billing", name="Billing")
    token = ServiceToken.issue(team, "alertmanager")[1]
    labels = {"alertname": "BillingQueueBacklog", "severity": "page", "workflow_id": "wf-billing",
              "queue": "billing"}
    alert = {"labels": labels, "annotations": {"summary": "Billing queue is backing up",
                                               "description": "More than 5,000 jobs are waiting."},
             "generatorURL": "http://prometheus.example:9090/graph?g0.expr=queue_depth"}
    with Alertmanager(config_for(flowtower.url, token)) as alertmanager:
        alertmanager.post_alerts([{**alert, "startsAt": iso(datetime.now(timezone.utc))}])
        firing = wait_for(lambda: Alert.objects.filter(team=team, source="alertmanager").first(), 20,
                          "the alert did not reach Flowtower", alertmanager, flowtower)
        fingerprint = alertmanager.alerts()[0]["fingerprint"]
        assert firing.fingerprint == f"am:{fingerprint}" and firing.status == "firing"
        assert (firing.workflow, firing.severity, firing.title) == (workflow, "critical", "Billing queue is backing up")
        assert firing.labels == labels and firing.description == "More than 5,000 jobs are waiting."

        ended = datetime.now(timezone.utc) - timedelta(seconds=1)
        alertmanager.post_alerts([{**alert, "startsAt": iso(ended - timedelta(minutes=1)), "endsAt": iso(ended)}])
        wait_for(lambda: Alert.objects.filter(pk=firing.pk, resolved=True).exists(), 20,
                 "the resolved alert did not resolve in Flowtower", alertmanager, flowtower)
    resolved = Alert.objects.get(pk=firing.pk)
    assert resolved.resolved_by == "Alertmanager" and resolved.status == "resolved"
    assert Alert.objects.filter(team=team).count() == 1  # Alertmanager's repeats were the same alert
