"""The Grafana provisioning and dashboards in deploy/grafana, checked with the real tools that run
here (Grafana and Loki do not): every dashboard is valid JSON with the planned uid and unique panel
ids; every datasource a panel names is provisioned; every PromQL expression parses through promtool
and uses only metric names that something in the stack really exports — Flowtower's from its own
/metrics, n8n's from a real n8n's /metrics (tests/fixtures/n8n), the node, PostgreSQL, Redis and
blackbox exporters' from the Debian exporters started here and scraped, cAdvisor's from its
documentation (tests/fixtures/cadvisor-metrics.txt: it is not packaged); LogQL parses with Grafana's own LogQL
grammar (npm @grafana/lezer-logql, cached outside the repository) and selects only labels Promtail
sets; the SQL panels run as the read-only role deploy/postgres/grafana-reader.sql makes,
which can read nothing else. Last, a real Prometheus scrapes those exporters, n8n's /metrics and
Flowtower's while executions are ingested, and runs every dashboard query: none fails, and the
panels a user looks at first have data."""

import json
import logging
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from tests.child_process import scrape_exporter
import pytest
import redis
import yaml
from django.utils import timezone

pytestmark = pytest.mark.stack_validation  # `make validate` runs these with the stack's other checks

ROOT = Path(__file__).resolve().parent.parent
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PLANNED_UIDS = {"flowtower-workflows", "flowtower-api", "flowtower-system", "flowtower-logs"}
METRICS_TOKEN = "dashboards-test-token-0123456789"

# Gauges read from PostgreSQL/Redis at scrape time: every web process answers the same value, so a
# dashboard must take max() over processes (a sum would count them once per process).
SCRAPE_TIME_GAUGES = {
    "flowtower_alerts_open", "flowtower_alerts_unacknowledged", "flowtower_n8n_sync_lag_seconds",
    "flowtower_n8n_instance_failing", "flowtower_celery_queue_length",
}
# Series Prometheus itself adds for every target it scrapes (not exported by anyone).
PROMETHEUS_TARGET_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
# Scrape job (deploy/prometheus/prometheus.yml) -> whose metrics it carries.
JOB_SOURCES = {
    "flowtower-web": "flowtower", "flowtower-worker": "flowtower", "n8n": "n8n", "node": "node",
    "cadvisor": "cadvisor", "postgres": "postgres", "redis": "redis", "blackbox-healthz": "blackbox",
}


# ------------------------------------------------------------------------------------------------
# Reading the dashboards

def load_dashboards():
    return {path.name: json.loads(path.read_text()) for path in DASHBOARD_FILES}


def all_panels(dashboard):
    """Every panel, rows' collapsed children included."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries(kind):
    """(dashboard file, panel title, query text, dashboard) for every target on a datasource of
    `kind` (prometheus, loki, postgres), template variables' queries included."""
    found = []
    for name, dashboard in load_dashboards().items():
        for panel in all_panels(dashboard):
            for target in panel.get("targets", []):
                source = target.get("datasource") or panel.get("datasource") or {}
                if source.get("type") == kind:
                    found.append((name, panel["title"], target.get("expr") or target.get("rawSql"), dashboard))
        for variable in dashboard["templating"]["list"]:
            if variable.get("type") == "query" and variable["datasource"]["type"] == kind:
                found.append((name, f"variable {variable['name']}", variable["definition"], dashboard))
    return found


def provisioned_datasources():
    config = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "datasources.yml").read_text())
    return {source["uid"]: source for source in config["datasources"]}


GRAFANA_DURATIONS = {"__rate_interval": "1m", "__interval": "1m", "__range": "1h", "__auto": "1m"}


def substitute(expression, dashboard):
    """What Grafana sends: its interval variables as durations, the dashboard's own variables as a
    sample value. Anything else left with a $ is a variable Grafana would not know."""
    names = {variable["name"] for variable in dashboard["templating"]["list"]}

    def value(match):
        name = match.group(1) or match.group(2)
        if name in GRAFANA_DURATIONS:
            return GRAFANA_DURATIONS[name]
        assert name in names, f"unknown variable ${name} in {expression!r}"
        return "sample"

    result = re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", value, expression)
    assert "$" not in result, result
    return result


def promql_expressions():
    """(where, PromQL) for every Prometheus query; a variable's label_values(selector, label)
    becomes count(selector), which promtool can parse."""
    found = []
    for name, title, text, dashboard in queries("prometheus"):
        variable = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", text.strip())
        if title.startswith("variable "):
            assert variable, f"{name} {title}: only label_values(selector, label) is used: {text!r}"
            text = f"count({variable.group(1)})"
        found.append((f"{name} / {title}", substitute(text, dashboard)))
    return found


TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|\[[^\]]*\]|[A-Za-z_:][A-Za-z0-9_:]*|\d+(?:\.\d+)?(?:e[+-]?\d+)?|\S')
MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:\\.|[^"\\])*)"')
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}


def selectors(expression):
    """[(metric name, {label: (operator, value)})] of every vector selector in a PromQL
    expression: identifiers that are not functions, keywords or grouping labels."""
    tokens = TOKEN.findall(expression)
    found, i = [], 0
    while i < len(tokens):
        token = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token in LABEL_LISTS:
            if following == "(":
                i = tokens.index(")", i)  # skip "by (team, le)"
            i += 1
            continue
        if re.fullmatch(r"[A-Za-z_:][A-Za-z0-9_:]*", token) and token not in KEYWORDS \
                and following not in ("(", "by", "without"):  # not a function, not "sum by (…)"
            matchers = {}
            if following == "{":
                end = tokens.index("}", i)
                for label, operator, value in MATCHER.findall(" ".join(tokens[i + 2:end])):
                    matchers[label] = (operator, value)
                i = end
            found.append((token, matchers))
        elif token == "{":  # a selector without a name: none of these dashboards needs one
            raise AssertionError(f"selector without a metric name in {expression!r}")
        i += 1
    return found


# ------------------------------------------------------------------------------------------------
# Reading /metrics answers

def exposition_names(text):
    """Every series name an exposition can carry: sample lines', and for a declared family the
    names its type implies (a labelled counter nobody incremented yet has no sample line). In the
    text format a counter's TYPE line already names the series (prometheus_client appends _total
    to django-prometheus's django_http_requests_total_by_view_transport_method, for one)."""
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(None, 3)
            names.add(family)
            if kind.strip() == "histogram":
                names |= {f"{family}_bucket", f"{family}_sum", f"{family}_count"}
            elif kind.strip() == "summary":
                names |= {f"{family}_sum", f"{family}_count"}
        elif line and not line.startswith("#"):
            names.add(re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group(0))
    return names


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def exporter_names(tmp_path_factory):
    """Metric names of the exporters the stack runs, from the exporters themselves."""
    names = {}
    port = free_port()
    names["node"] = exposition_names(scrape_exporter(
        ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{port}"], port))

    database = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    port = free_port()
    names["postgres"] = exposition_names(scrape_exporter(
        ["prometheus-postgres-exporter", f"--web.listen-address=127.0.0.1:{port}"], port,
        env={"DATA_SOURCE_NAME": f"postgresql://{database.netloc}/postgres?sslmode=disable"}))

    # redis_db_keys is exported per database holding keys: give ours one.
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(redis_url)
    client.set("flowtower:dashboards-test", "1", ex=60)
    redis_address = urlsplit(redis_url)
    port = free_port()
    names["redis"] = exposition_names(scrape_exporter(
        ["prometheus-redis-exporter", "-redis.addr", f"redis://{redis_address.netloc}",
         "-web.listen-address", f"127.0.0.1:{port}"], port))
    client.delete("flowtower:dashboards-test")

    config = tmp_path_factory.mktemp("blackbox") / "blackbox.yml"
    config.write_text("modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n")
    port = free_port()
    target = f"http://127.0.0.1:{port}/metrics"  # the exporter probes its own /metrics
    names["blackbox"] = exposition_names(scrape_exporter(
        ["prometheus-blackbox-exporter", f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"],
        port, path=f"/probe?module=http_2xx&target={target}"))

    names["n8n"] = exposition_names((FIXTURES / "n8n" / "metrics-1.123.81.txt").read_text())
    names["cadvisor"] = {line.split()[0] for line in (FIXTURES / "cadvisor-metrics.txt").read_text().splitlines()
                         if line.strip() and not line.startswith("#")}
    return names


@pytest.fixture
def flowtower_names(client, settings, db):
    """Flowtower's metric names from its own /metrics, read the way Prometheus reads it. The web
    process is Daphne serving config.asgi, whose websocket routing (loaded here as config.asgi
    loads it) defines the websocket gauge."""
    import monitoring.live.routing  # noqa: F401

    settings.FLOWTOWER_METRICS_TOKEN = METRICS_TOKEN
    settings.FLOWTOWER_METRICS_ALLOWED_NETWORKS = []
    answer = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    assert answer.status_code == 200, answer.content[:500]
    return exposition_names(answer.content.decode())


# ------------------------------------------------------------------------------------------------
# The dashboards as files

def test_each_dashboard_is_valid_json_with_its_planned_uid_and_unique_panel_ids():
    assert DASHBOARD_FILES, "no dashboards in deploy/grafana/dashboards"
    uids = []
    for path in DASHBOARD_FILES:
        dashboard = json.loads(path.read_text())  # raises on invalid JSON
        uids.append(dashboard["uid"])
        ids = [panel["id"] for panel in all_panels(dashboard)]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"
        assert all(isinstance(panel_id, int) for panel_id in ids)
        for panel in all_panels(dashboard):
            assert panel["title"].strip(), f"{path.name}: a panel without a title"
            assert panel["type"] == "row" or panel["targets"], f"{path.name}: {panel['title']} has no query"
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, f"{path.name}: {panel['title']} is wider than the grid"
    assert len(uids) == len(set(uids))
    assert set(uids) == PLANNED_UIDS


def test_every_datasource_a_dashboard_names_is_provisioned_with_the_same_type():
    provisioned = provisioned_datasources()
    assert set(provisioned) == {"prometheus", "loki", "flowtower-postgres"}
    references = []
    for name, dashboard in load_dashboards().items():
        for panel in all_panels(dashboard):
            if panel["type"] != "row":
                references.append((name, panel["title"], panel["datasource"]))
            references += [(name, panel["title"], target["datasource"]) for target in panel.get("targets", [])]
        references += [(name, variable["name"], variable["datasource"])
                       for variable in dashboard["templating"]["list"] if "datasource" in variable]
    assert references
    for name, where, reference in references:
        assert reference["uid"] in provisioned, f"{name} / {where}: datasource {reference['uid']!r} is not provisioned"
        assert reference["type"] == provisioned[reference["uid"]]["type"], f"{name} / {where}"


def test_provisioning_points_at_the_services_and_keeps_the_password_out_of_the_file():
    sources = provisioned_datasources()
    assert sources["prometheus"]["url"] == "http://prometheus:9090" and sources["prometheus"]["isDefault"]
    assert sources["loki"]["url"] == "http://loki:3100"
    postgres = sources["flowtower-postgres"]
    assert postgres["user"] == "grafana_reader"
    assert postgres["secureJsonData"]["password"] == "${GRAFANA_DB_READER_PASSWORD}"
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "dashboards.yml").read_text())["providers"]
    assert [p["options"]["path"] for p in providers] == ["/var/lib/grafana/dashboards"]


def test_scrape_time_gauges_are_taken_with_max_over_processes():
    checked = 0
    for where, expression in promql_expressions():
        for gauge in SCRAPE_TIME_GAUGES & {name for name, _ in selectors(expression)}:
            checked += 1
            assert re.search(rf"max(\s+by\s*\([^)]*\))?\s*\(\s*{gauge}\b", expression), f"{where}: {expression}"
    assert checked >= len(SCRAPE_TIME_GAUGES)


def test_the_logs_dashboard_shows_errors_first():
    dashboard = json.loads((GRAFANA / "dashboards" / "flowtower-logs.json").read_text())
    first = min(all_panels(dashboard), key=lambda panel: (panel["gridPos"]["y"], panel["gridPos"]["x"]))
    assert first["type"] == "logs"
    assert re.search(r'level=~"\(\?i\)error', first["targets"][0]["expr"])


# ------------------------------------------------------------------------------------------------
# PromQL: promtool parses it; the names exist

def test_every_promql_expression_parses_with_promtool(tmp_path):
    expressions = promql_expressions()
    assert len(expressions) > 50
    rules = [{"record": f"dashboard:query_{number}", "expr": expression}
             for number, (_, expression) in enumerate(expressions)]
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}, sort_keys=False))
    result = subprocess.run([shutil.which("promtool") or "promtool", "check", "rules", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_a_broken_expression_is_refused_by_promtool(tmp_path):
    """The check above would notice: promtool refuses what Grafana could not run."""
    path = tmp_path / "broken.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"record": "x:y", "expr": "sum by (le (rate(flowtower_executions_total[1m]))"}]}]}))
    result = subprocess.run([shutil.which("promtool") or "promtool", "check", "rules", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0


def test_every_metric_name_is_exported_by_the_job_the_query_selects(exporter_names, flowtower_names):
    sources = {**exporter_names, "flowtower": flowtower_names}
    everything = set().union(*sources.values())
    used, problems = set(), []
    for where, expression in promql_expressions():
        for name, matchers in selectors(expression):
            used.add(name)
            if name in PROMETHEUS_TARGET_SERIES:
                continue
            operator, value = matchers.get("job", ("", ""))
            if operator in ("=", "=~"):
                jobs = value.split("|") if operator == "=~" else [value]
                if not all(job in JOB_SOURCES for job in jobs):
                    problems.append(f"{where}: unknown job {value!r}")
                elif name not in set().union(*(sources[JOB_SOURCES[job]] for job in jobs)):
                    problems.append(f"{where}: {name} is not exported by job {value!r}")
            elif name not in everything:
                problems.append(f"{where}: nobody exports {name}")
    assert not problems, "\n".join(sorted(set(problems)))
    # The dashboards do show each part of the stack.
    for source, names in sources.items():
        assert used & names, f"no panel uses a metric of {source}"


# ------------------------------------------------------------------------------------------------
# LogQL: the loki datasource, Promtail's labels

def promtail_labels():
    """Stream labels deploy/promtail/promtail.yml gives lines: relabelled targets, static labels
    and pipeline `labels` stages."""
    config = yaml.safe_load((ROOT / "deploy" / "promtail" / "promtail.yml").read_text())
    labels = set()

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("target_label"), str) and not node["target_label"].startswith("__"):
                labels.add(node["target_label"])
            if isinstance(node.get("labels"), dict):
                labels.update(key for key in node["labels"] if not key.startswith("__"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(config)
    return labels


def test_logql_selects_only_labels_promtail_sets():
    labels = promtail_labels()
    assert {"service", "level", "logger"} <= labels
    found = queries("loki")
    assert found
    for name, title, expression, dashboard in found:
        if title.startswith("variable "):
            used = set(re.findall(r"label_values\((\w+)\)", expression))
            assert used, f"{name} / {title}: {expression!r}"
        else:
            text = substitute(expression, dashboard)
            assert text.count("{") == text.count("}") and text.count("(") == text.count(")"), text
            streams = re.findall(r"\{([^{}]*)\}", text)
            assert streams, f"{name} / {title}: no stream selector in {expression!r}"
            used = {label for stream in streams for label, _, _ in MATCHER.findall(stream)}
            assert used, f"{name} / {title}: {expression!r}"
        assert used <= labels, f"{name} / {title}: {used - labels} are not labels Promtail sets"


LEZER_LOGQL = "@grafana/lezer-logql@0.4.2"
LOGQL_CHECK = """
// JSON [expression, ...] on stdin -> JSON [[error positions], ...]: Grafana's own LogQL grammar.
const { parser } = require("@grafana/lezer-logql");
const expressions = JSON.parse(require("fs").readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(expressions.map((expression) => {
  const errors = [];
  parser.parse(expression).iterate({ enter: (node) => { if (node.type.isError) errors.push(node.from); } });
  return errors;
})));
"""


@pytest.fixture(scope="module")
def parse_logql():
    """Grafana's LogQL grammar (the npm package its Loki query editor parses with; Loki itself does
    not run here), installed once into a cache outside the repository."""
    cache = Path(os.environ.get("FLOWTOWER_LOGQL_CACHE", Path.home() / ".cache" / "flowtower" / "lezer-logql-0.4.2"))
    if not (cache / "node_modules" / "@grafana" / "lezer-logql" / "package.json").exists():
        assert shutil.which("npm") and shutil.which("node"), "Node.js and npm are needed to parse LogQL"
        cache.mkdir(parents=True, exist_ok=True)
        installed = subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--no-save",
                                    "--prefix", str(cache), LEZER_LOGQL], capture_output=True, text=True, timeout=300)
        assert installed.returncode == 0, installed.stderr
    (cache / "check.cjs").write_text(LOGQL_CHECK)

    def parse(expressions):
        result = subprocess.run(["node", str(cache / "check.cjs")], input=json.dumps(expressions),
                                capture_output=True, text=True, timeout=60, cwd=cache)
        assert result.returncode == 0, result.stderr
        return dict(zip(expressions, json.loads(result.stdout)))

    return parse


def test_every_logql_expression_parses_with_grafanas_logql_grammar(parse_logql):
    expressions = [substitute(text, dashboard) for _, title, text, dashboard in queries("loki")
                   if not title.startswith("variable ")]
    assert len(expressions) >= 6
    broken = "sum by (level (count_over_time({service=\"web\"} [1m]))"
    errors = parse_logql(expressions + [broken])
    assert errors.pop(broken), "the grammar accepts a broken expression: this check would prove nothing"
    assert not {expression: at for expression, at in errors.items() if at}


def test_the_error_filter_matches_the_levels_flowtower_logs():
    """Loki matches label regexes whole (RE2, anchored), as re.fullmatch does."""
    from django.conf import settings as django_settings
    from django.utils.module_loading import import_string

    formatter_config = django_settings.LOGGING["formatters"]["json"]
    formatter_class = import_string(formatter_config.get("()") or formatter_config["class"])
    formatter = formatter_class(**{k: v for k, v in formatter_config.items() if k not in ("()", "class")})
    levels = {}
    for level in ("ERROR", "CRITICAL", "WARNING", "INFO"):
        record = logging.LogRecord("flowtower.test", getattr(logging, level), __file__, 1, "message", None, None)
        levels[level] = json.loads(formatter.format(record))["level"]
    error_filter = "(?i)error|critical|fatal"
    assert re.fullmatch(error_filter, levels["ERROR"]) and re.fullmatch(error_filter, levels["CRITICAL"])
    assert not re.fullmatch(error_filter, levels["WARNING"]) and not re.fullmatch(error_filter, levels["INFO"])
    assert re.fullmatch("(?i)warn|warning", levels["WARNING"])



# ------------------------------------------------------------------------------------------------
# SQL panels: the read-only role runs them and reads nothing else

READER_PASSWORD = "reader-password-for-tests"
READER_ROLE = f"grafana_reader_test_{os.getpid()}"  # roles are cluster-wide: one per test run


def grafana_sql(text, dashboard):
    """Grafana's PostgreSQL macros as Grafana expands them, over the last week."""
    start, end = timezone.now() - timedelta(days=7), timezone.now() + timedelta(minutes=1)
    text = re.sub(r"\$__timeFilter\(([^)]+)\)",
                  lambda m: f"{m.group(1)} BETWEEN '{start.isoformat()}' AND '{end.isoformat()}'", text)
    text = text.replace("${team:regex}", ".*")  # "All" (the variable's allValue)
    assert not re.search(r"\$(\{|\w)", text), text
    return text


def run_reader_sql(database, *extra):
    return subprocess.run(
        [shutil.which("psql"), "-X", "-q", "-h", database["HOST"] or "127.0.0.1", "-p", str(database["PORT"] or 5432),
         "-U", database["USER"], "-d", database["NAME"], *extra, "-f", str(ROOT / "deploy" / "postgres" / "grafana-reader.sql")],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PGPASSWORD": database["PASSWORD"] or ""},
    )


@pytest.fixture
def reader(transactional_db):
    """A connection as the role the reader SQL makes (under a test name: the cluster is shared, and
    a developer's own grafana_reader keeps its password); the role is dropped after."""
    from django.db import connection

    database = connection.settings_dict
    result = run_reader_sql(database, "-v", f"reader_password={READER_PASSWORD}", "-v", f"reader_role={READER_ROLE}")
    assert result.returncode == 0, result.stderr
    again = run_reader_sql(database, "-v", f"reader_password={READER_PASSWORD}", "-v", f"reader_role={READER_ROLE}")
    assert again.returncode == 0, again.stderr  # idempotent
    try:
        with psycopg.connect(host=database["HOST"] or "127.0.0.1", port=database["PORT"] or 5432,
                             dbname=database["NAME"], user=READER_ROLE, password=READER_PASSWORD,
                             autocommit=True) as conn:
            yield conn
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP OWNED BY {READER_ROLE}")  # its grants here
            cursor.execute(f"DROP ROLE {READER_ROLE}")


def test_the_reader_sql_refuses_to_run_without_a_good_password(transactional_db):
    from django.db import connection

    role = ("-v", f"reader_role={READER_ROLE}")
    missing = run_reader_sql(connection.settings_dict, *role)
    assert missing.returncode != 0 and "reader_password" in missing.stderr
    short = run_reader_sql(connection.settings_dict, *role, "-v", "reader_password=short")
    assert short.returncode != 0 and "12 characters" in short.stderr
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", [READER_ROLE])
        assert cursor.fetchone()[0] == 0


def test_sql_panels_run_as_the_read_only_role_and_answer_from_flowtower_data(reader):
    from monitoring.models import Alert, Execution, Team, Workflow, WorkflowError
    from n8n_mirror.models import N8nInstance

    team = Team.objects.create(slug="ops", name="Ops")
    failing = Workflow.objects.create(team=team, external_id="wf-invoice", name="Invoice fetch")
    fine = Workflow.objects.create(team=team, external_id="wf-orders", name="Order sync")
    now = timezone.now()
    for number, (workflow, state) in enumerate([(failing, "error"), (failing, "error"), (failing, "success"),
                                                 (fine, "success"), (fine, "success")]):
        execution = Execution.objects.create(workflow=workflow, external_id=str(number), state=state,
                                             started_at=now - timedelta(hours=1), stopped_at=now, duration_ms=300)
        if state == "error":
            WorkflowError.objects.create(workflow=workflow, execution=execution, error_type="network",
                                         error_message="The service was not able to process your request",
                                         node_name="Get invoices", severity="high", error_stack="secret stack")
    Alert.objects.create(team=team, alert_type="error", severity="critical", title="Invoice fetch failing")
    N8nInstance.objects.create(team=team, name="main n8n", api_url="https://n8n.example.com", secrets="encrypted")

    answers = {}
    for name, title, text, dashboard in queries("postgres"):
        with reader.cursor() as cursor:
            cursor.execute(grafana_sql(text, dashboard))
            answers[title] = [dict(zip([c.name for c in cursor.description], row)) for row in cursor.fetchall()]
    assert len(answers) >= 4
    top = answers["Top failing workflows (database)"]
    assert [(row["workflow"], row["failures"], row["executions"]) for row in top] == [("wf-invoice", 2, 3)]
    assert float(top[0]["failure_pct"]) == 66.7
    assert [row["node"] for row in answers["Latest errors (database)"]] == ["Get invoices", "Get invoices"]
    assert [row["title"] for row in answers["Open alerts (database)"]] == ["Invoice fetch failing"]
    assert [row["instance"] for row in answers["n8n instances (database)"]] == ["main n8n"]


@pytest.mark.parametrize("statement", [
    "SELECT token_hash FROM monitoring_servicetoken",
    "SELECT secrets FROM n8n_mirror_n8ninstance",
    "SELECT api_url FROM n8n_mirror_n8ninstance",
    "SELECT error_stack FROM monitoring_workflowerror",
    "SELECT metadata FROM monitoring_execution",
    "SELECT password FROM auth_user",
    "SELECT * FROM monitoring_alert",
    "INSERT INTO monitoring_team (slug, name, created_at) VALUES ('x', 'x', now())",
    "UPDATE monitoring_alert SET resolved = true",
    "DELETE FROM monitoring_execution",
    "CREATE TABLE grafana_scratch (id int)",
])
def test_the_read_only_role_reads_only_the_dashboards_columns(reader, statement):
    """Refused by privilege, not only by the read-only default a Grafana user could turn off."""
    with reader.cursor() as cursor:
        cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            cursor.execute(statement)


def test_the_read_only_role_sessions_are_read_only_and_time_bounded(reader):
    with reader.cursor() as cursor:
        cursor.execute("SHOW default_transaction_read_only")
        assert cursor.fetchone()[0] == "on"
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "10s"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            cursor.execute("UPDATE monitoring_alert SET resolved = true")


# ------------------------------------------------------------------------------------------------
# A real Prometheus scraping the real exporters, n8n's /metrics and Flowtower's: every dashboard
# query runs without error, and the panels a user looks at first have data.

# Panels that must show data here. cAdvisor's cannot (it does not run here); panels that count
# something that did not happen (5xx, evictions, Celery tasks, deliveries) may rightly be empty.
PANELS_WITH_DATA = [
    "Executions", "Failures", "Failure rate", "p95 duration", "Open alerts", "Execution rate by status",
    "Failures by workflow", "Execution duration p50 / p95 / p99", "Top failing workflows (metrics)",
    "Errors by type and severity", "Sync lag by instance", "Instances failing", "n8n up",
    "Active workflows in n8n", "n8n version", "n8n memory", "Requests per second", "p95 latency",
    "Latency p50 / p95 / p99", "Web targets up", "/healthz", "Targets up", "Flowtower processes up",
    "CPU busy", "Memory used", "Load average", "PostgreSQL up", "Connections used", "Transactions",
    "Redis up", "Clients", "Commands per second",
]


class _Snapshots:
    """What the little HTTP server answers: path -> bytes, replaced while Prometheus scrapes."""

    def __init__(self):
        self.bodies = {"/healthz": b'{"status": "ok"}'}


def _serve(snapshots):
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = snapshots.bodies.get(self.path.split("?")[0])
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _start(command, env=None):
    return subprocess.Popen([shutil.which(command[0]), *command[1:]], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})


def _prometheus_config(ports, server_port):
    def static(job, port, path="/metrics"):
        return {"job_name": job, "metrics_path": path, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}

    healthz = f"http://127.0.0.1:{server_port}/healthz"
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            static("flowtower-web", server_port, "/flowtower/metrics"),
            static("flowtower-worker", server_port, "/flowtower/metrics"),
            static("n8n", server_port, "/n8n/metrics"),
            static("node", ports["node"]), static("postgres", ports["postgres"]), static("redis", ports["redis"]),
            {"job_name": "blackbox-healthz", "metrics_path": "/probe",
             "static_configs": [{"targets": [healthz], "labels": {"module": "http_2xx"}}],
             "relabel_configs": [
                 {"source_labels": ["__address__"], "target_label": "__param_target"},
                 {"source_labels": ["module"], "target_label": "__param_module"},
                 {"source_labels": ["__param_target"], "target_label": "instance"},
                 {"target_label": "__address__", "replacement": f"127.0.0.1:{ports['blackbox']}"}]},
            static("prometheus", ports["prometheus"]),
        ],
    }


def _query(port, expression):
    from urllib.parse import urlencode

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query?{urlencode({'query': expression})}",
                                timeout=10) as answer:
        return json.loads(answer.read())


def _wait_for(predicate, seconds=30):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def _ingest_executions(team, first, states):
    from monitoring.ingest import ingest

    now = timezone.now()
    for offset, (workflow, state, duration_ms) in enumerate(states):
        number = str(first + offset)
        records = {"execution": [{"workflow_id": workflow, "workflow_name": workflow.title(), "execution_id": number,
                                  "state": state, "mode": "webhook", "started_at": now - timedelta(seconds=5),
                                  "stopped_at": now, "duration_ms": duration_ms}],
                   "log": [], "performance": [],
                   "error": [{"workflow_id": workflow, "execution_id": number, "error_type": "network",
                              "error_message": "refused", "severity": "high", "node_name": "Call API",
                              "timestamp": now}] if state == "error" else []}
        ingest(team, records, source="api")


def test_every_dashboard_query_runs_on_a_real_prometheus_and_the_main_panels_have_data(
        tmp_path, client, settings, transactional_db):
    from monitoring.models import Alert, Team
    from n8n_mirror.models import N8nInstance

    settings.FLOWTOWER_METRICS_TOKEN = METRICS_TOKEN
    settings.FLOWTOWER_METRICS_ALLOWED_NETWORKS = []
    team = Team.objects.create(slug="ops", name="Ops")
    Alert.objects.create(team=team, alert_type="error", severity="critical", title="Invoice fetch failing")
    N8nInstance.objects.create(team=team, name="main n8n", api_url="https://n8n.example.com")

    def snapshot():
        answer = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
        assert answer.status_code == 200
        snapshots.bodies["/flowtower/metrics"] = answer.content

    snapshots = _Snapshots()
    snapshots.bodies["/n8n/metrics"] = (FIXTURES / "n8n" / "metrics-1.123.81.txt").read_bytes()
    server = _serve(snapshots)
    ports = {name: free_port() for name in ("node", "postgres", "redis", "blackbox", "prometheus")}
    database = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    blackbox_config = tmp_path / "blackbox.yml"
    blackbox_config.write_text("modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n")
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(_prometheus_config(ports, server.server_address[1])))
    processes = [
        _start(["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{ports['node']}"]),
        _start(["prometheus-postgres-exporter", f"--web.listen-address=127.0.0.1:{ports['postgres']}"],
               env={"DATA_SOURCE_NAME": f"postgresql://{database.netloc}/postgres?sslmode=disable"}),
        _start(["prometheus-redis-exporter", "-redis.addr", f"redis://{urlsplit(os.environ.get('REDIS_URL', 'redis://127.0.0.1:6379')).netloc}",
                "-web.listen-address", f"127.0.0.1:{ports['redis']}"]),
        _start(["prometheus-blackbox-exporter", f"--config.file={blackbox_config}",
                f"--web.listen-address=127.0.0.1:{ports['blackbox']}"]),
        _start(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{ports['prometheus']}"]),
    ]
    try:
        # Two moments Prometheus scrapes, with executions between them: counters move, so rates,
        # increases and histogram quantiles have something to say.
        _ingest_executions(team, 1, [("wf-orders", "success", 300), ("wf-invoice", "error", 400)])
        snapshot()

        def scraped_everything():
            try:
                answer = _query(ports["prometheus"], "count(up == 1)")
            except OSError:
                return False
            result = answer["data"]["result"]
            return bool(result) and int(float(result[0]["value"][1])) == 8

        _wait_for(scraped_everything)
        time.sleep(3)
        _ingest_executions(team, 3, [("wf-orders", "success", 250), ("wf-orders", "success", 900),
                                     ("wf-invoice", "error", 450), ("wf-invoice", "success", 350)])
        snapshot()
        time.sleep(3)  # a few 1 s scrapes of each export, with room for a slow machine
        # A request's latency is observed after its answer is written: the next export has it.
        snapshot()
        time.sleep(5)

        failed, empty = [], []
        for name, title, text, dashboard in queries("prometheus"):
            if title.startswith("variable "):
                text = f"count({re.fullmatch(r'label_values[(](.+),[ ]*[a-z_]+[)]', text).group(1)})"
            values = {v["name"]: ".*" for v in dashboard["templating"]["list"]}
            expression = re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)",
                                lambda m: {"__rate_interval": "1m", "__range": "5m", "__interval": "1m"}.get(
                                    m.group(1) or m.group(2), values.get(m.group(1) or m.group(2), "")), text)
            answer = _query(ports["prometheus"], expression)
            if answer["status"] != "success":
                failed.append(f"{name} / {title}: {answer}")
            elif not [r for r in answer["data"]["result"] if r["value"][1] not in ("NaN",)]:
                empty.append(title)
        assert not failed, "\n".join(failed)
        assert not set(PANELS_WITH_DATA) & set(empty), sorted(set(PANELS_WITH_DATA) & set(empty))

        # Prometheus keeps a scraped "instance" label as exported_instance: the n8n mirror's
        # panels group by it, and it names the instance.
        lag = _query(ports["prometheus"], 'max by (team, exported_instance) (flowtower_n8n_sync_lag_seconds)')
        assert [r["metric"] for r in lag["data"]["result"]] == [{"team": "ops", "exported_instance": "main n8n"}]
        top = _query(ports["prometheus"], 'topk(10, sum by (team, workflow) (increase(flowtower_executions_total{status=~"error|crashed"}[5m])) > 0)')
        assert [r["metric"] for r in top["data"]["result"]] == [{"team": "ops", "workflow": "wf-invoice"}]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)
        server.shutdown()
