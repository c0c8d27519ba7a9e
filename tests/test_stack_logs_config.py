"""Promtail and Loki's configuration (deploy/promtail, deploy/loki). Neither runs on this machine,
so this checks what can be checked without them: Promtail reads the keys Flowtower's JSON log
lines really have (a line logged by Flowtower's own logging settings), makes labels only of the
few-valued ones, keeps request_id as structured metadata — which Loki accepts only with schema
v13 and allow_structured_metadata — and pushes to the compose service running that Loki."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.stack_validation

ROOT = Path(__file__).resolve().parent.parent
PROMTAIL = yaml.safe_load((ROOT / "deploy" / "promtail" / "promtail.yml").read_text())
LOKI = yaml.safe_load((ROOT / "deploy" / "loki" / "loki.yml").read_text())
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def flowtower_stages():
    (job,) = PROMTAIL["scrape_configs"]
    (match,) = [stage["match"] for stage in job["pipeline_stages"] if "match" in stage]
    assert match["selector"] == '{service=~"web|worker|beat|migrate"}'
    return {name: body for stage in match["stages"] for name, body in stage.items()}


def test_labels_are_few_valued_and_request_id_is_structured_metadata():
    stages = flowtower_stages()
    assert set(stages["labels"]) == {"level", "logger"}
    assert set(stages["structured_metadata"]) == {"request_id"}
    (job,) = PROMTAIL["scrape_configs"]
    targets = {rule.get("target_label") for rule in job["relabel_configs"]}
    assert targets == {"service", "container", "stream"}
    # Structured metadata needs Loki's schema v13 and the per-tenant switch.
    assert LOKI["schema_config"]["configs"][-1]["schema"] == "v13"
    assert LOKI["limits_config"]["allow_structured_metadata"] is True


def test_promtail_reads_the_keys_of_a_real_flowtower_log_line():
    env = {**os.environ, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO", "DEBUG": "0", "ALLOWED_HOSTS": "x",
           "SECRET_KEY": "stack-logs-test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
           "DJANGO_SETTINGS_MODULE": "config.settings"}
    logged = subprocess.run(
        [sys.executable, "-c", "import django, logging; django.setup(); "
                               "logging.getLogger('monitoring.stack').warning('queue is long')"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert logged.returncode == 0, logged.stderr
    (line,) = [json.loads(text) for text in logged.stdout.splitlines() if "queue is long" in text]
    expressions = flowtower_stages()["json"]["expressions"]
    assert line["level"] == "WARNING" and line["logger"] == "monitoring.stack"
    assert {expressions["level"], expressions["logger"]} <= set(line)
    assert expressions["request_id"] == "request_id"  # present on request and task lines


def test_promtail_pushes_to_the_loki_service_and_reads_docker_read_only():
    (client,) = PROMTAIL["clients"]
    assert client["url"] == "http://loki:3100/loki/api/v1/push"
    assert LOKI["server"]["http_listen_port"] == 3100
    assert "-config.file=/etc/loki/loki.yml" in COMPOSE["loki"]["command"]
    assert "./deploy/loki/loki.yml:/etc/loki/loki.yml:ro" in COMPOSE["loki"]["volumes"]
    assert "./deploy/promtail/promtail.yml:/etc/promtail/promtail.yml:ro" in COMPOSE["promtail"]["volumes"]
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in COMPOSE["promtail"]["volumes"]
    assert LOKI["compactor"]["retention_enabled"] is True and LOKI["limits_config"]["retention_period"] == "744h"
