"""The stack's Alertmanager configuration (deploy/alertmanager/alertmanager.yml): amtool accepts it
and routes as documented, its secrets are files, and a real Prometheus Alertmanager (Debian's
prometheus-alertmanager) running it — only the addresses and secret files pointed at this machine,
timings shortened — delivers a critical alert to a live Flowtower (Daphne), a local Slack webhook
receiver and a local SMTP server, a warning to Flowtower and Slack only, an alert that follows
from the web being down to nobody while it is down (inhibited), and resolves in Flowtower what it
resolves."""

import json
import socket
import subprocess
from datetime import datetime, timedelta, timezone
from email import message_from_bytes
from pathlib import Path

import pytest
import yaml
from aiosmtpd.controller import Controller

from monitoring.models import Alert, ServiceToken
from test_alerting_alertmanager_real import AMTOOL, Alertmanager, flowtower, iso, needs_alertmanager, settled, wait_for  # noqa: F401

pytestmark = pytest.mark.stack_validation

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
FLOWTOWER_RECEIVER = "http://web:8000/api/v1/integrations/alertmanager"


def shipped():
    return yaml.safe_load(CONFIG.read_text())


@needs_alertmanager
def test_amtool_accepts_the_configuration():
    checked = subprocess.run([AMTOOL, "check-config", str(CONFIG)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


@needs_alertmanager
@pytest.mark.parametrize("labels, receiver", [
    (["severity=critical", "alertname=FlowtowerWebDown"], "flowtower-slack-email"),
    (["severity=warning", "alertname=CeleryBacklog"], "flowtower-slack"),
    (["severity=info", "alertname=Anything"], "flowtower"),
    (["alertname=NoSeverity"], "flowtower"),
])
def test_routes_by_severity(labels, receiver):
    routed = subprocess.run([AMTOOL, "config", "routes", "test", f"--config.file={CONFIG}", *labels],
                            capture_output=True, text=True, timeout=30)
    assert routed.returncode == 0, routed.stderr
    assert routed.stdout.strip() == receiver


def test_every_receiver_tells_flowtower_and_secrets_are_files():
    config = shipped()
    for receiver in config["receivers"]:
        (webhook,) = receiver["webhook_configs"]
        assert webhook["url"] == FLOWTOWER_RECEIVER and webhook["send_resolved"] is True, receiver["name"]
        assert webhook["http_config"]["authorization"] == {
            "type": "Bearer", "credentials_file": "/run/secrets/flowtower_alertmanager_token"}
    assert config["global"]["slack_api_url_file"] == "/run/secrets/alertmanager_slack_webhook_url"
    assert config["global"]["smtp_auth_password_file"] == "/run/secrets/alertmanager_smtp_password"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert set(compose["services"]["alertmanager"]["secrets"]) == {
        "flowtower_alertmanager_token", "alertmanager_slack_webhook_url", "alertmanager_smtp_password"}


# ------------------------------------------------------------------------------------------------
# The real Alertmanager running the shipped configuration

class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mailbox():
    handler = Mailbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


def local_config(tmp_path, flowtower_url, token, slack_url, smtp_port):
    """The shipped file with its compose addresses and /run/secrets files pointed here; group
    timings of a second; SMTP without STARTTLS (the local server has none)."""
    files = {"flowtower_alertmanager_token": token, "alertmanager_slack_webhook_url": slack_url,
             "alertmanager_smtp_password": "local-smtp-password"}
    text = CONFIG.read_text()
    for name, content in files.items():
        (tmp_path / name).write_text(content)
        text = text.replace(f"/run/secrets/{name}", str(tmp_path / name))
    assert text.count(FLOWTOWER_RECEIVER) == 1  # one webhook, shared by every receiver (a YAML anchor)
    config = yaml.safe_load(text.replace("http://web:8000", flowtower_url))
    config["global"].update(smtp_smarthost=f"127.0.0.1:{smtp_port}", smtp_require_tls=False, resolve_timeout="30s")
    config["route"].update(group_wait="1s", group_interval="1s")
    return config


@needs_alertmanager
@pytest.mark.django_db(transaction=True)
def test_the_shipped_configuration_delivers_to_flowtower_slack_and_email(flowtower, team, settled, httpserver, mailbox,
                                                                        tmp_path):
    token = ServiceToken.issue(team, "alertmanager")[1]
    httpserver.expect_request("/slack", method="POST").respond_with_data("ok")
    inbox, smtp_port = mailbox
    config = local_config(tmp_path, flowtower.url, token, httpserver.url_for("/slack"), smtp_port)
    down = {"labels": {"alertname": "FlowtowerWebDown", "severity": "critical", "job": "flowtower-web",
                       "instance": "web:8000"},
            "annotations": {"summary": "Flowtower web is down", "description": "Not scraped for 2 minutes."}}
    # Follows from the web being down: inhibited, so told to nobody.
    errors = {"labels": {"alertname": "FlowtowerHigh5xxRate", "severity": "critical"},
              "annotations": {"summary": "Flowtower answers many 5xx", "description": "9% of responses."}}
    backlog = {"labels": {"alertname": "CeleryBacklog", "severity": "warning", "queue": "celery"},
               "annotations": {"summary": "Celery queue celery has a backlog", "description": "150 tasks waiting."}}
    now = datetime.now(timezone.utc)
    with Alertmanager(config) as alertmanager:
        alertmanager.post_alerts([{**down, "startsAt": iso(now)}, {**errors, "startsAt": iso(now)},
                                  {**backlog, "startsAt": iso(now)}])
        wait_for(lambda: Alert.objects.filter(team=team, source="alertmanager").count() == 2, 20,
                 "both alerts did not reach Flowtower", alertmanager, flowtower)
        critical = Alert.objects.get(team=team, title="Flowtower web is down")
        warning = Alert.objects.get(team=team, title="Celery queue celery has a backlog")
        assert (critical.severity, critical.status, critical.workflow) == ("critical", "firing", None)
        assert (warning.severity, warning.status) == ("warning", "firing")
        (inhibited,) = [a for a in alertmanager.alerts() if a["labels"]["alertname"] == "FlowtowerHigh5xxRate"]
        assert inhibited["status"]["state"] == "suppressed" and inhibited["status"]["inhibitedBy"]

        def slack_texts():
            return [json.loads(request.get_data()) for request, _ in httpserver.log]
        wait_for(lambda: len(slack_texts()) >= 2, 20, "Slack did not get both alerts", alertmanager, flowtower)
        titles = " ".join(message["attachments"][0]["title"] for message in slack_texts())
        assert "[CRITICAL] FlowtowerWebDown" in titles and "[WARNING] CeleryBacklog" in titles

        wait_for(lambda: inbox.messages, 20, "no email for the critical alert", alertmanager, flowtower)
        assert all(message["To"] == "oncall@example.com" for message in inbox.messages)
        assert all("FlowtowerWebDown" in message["Subject"] for message in inbox.messages), "email is critical only"
        # Seconds later (groups are flushed every second), the inhibited alert is still told to nobody.
        assert not Alert.objects.filter(team=team, title="Flowtower answers many 5xx").exists()
        assert not any("FlowtowerHigh5xxRate" in json.dumps(message) for message in slack_texts())

        ended = datetime.now(timezone.utc) - timedelta(seconds=1)
        alertmanager.post_alerts([{**down, "startsAt": iso(now - timedelta(minutes=1)), "endsAt": iso(ended)}])
        wait_for(lambda: Alert.objects.filter(pk=critical.pk, resolved=True).exists(), 20,
                 "the resolved alert did not resolve in Flowtower", alertmanager, flowtower)
        # The web back, the 5xx alert (still firing) is no longer inhibited: now it is told.
        wait_for(lambda: Alert.objects.filter(team=team, title="Flowtower answers many 5xx").exists(), 20,
                 "the 5xx alert was not told once the web was back", alertmanager, flowtower)
    assert not Alert.objects.get(pk=warning.pk).resolved
