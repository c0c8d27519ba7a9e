"""The OpenAPI fuzz run. schemathesis reads the API's own document (/api/v1/schema/, which
describes /api/v1/ and the monitoring endpoint), generates requests for every operation — valid
input, invalid input, boundary values, unexpected methods — sends them in-process as a team's
service token, a team member and a super admin, and runs its checks on every answer:

- not_a_server_error: no 5xx, whatever the input;
- status_code_conformance, content_type_conformance, response_schema_conformance,
  response_headers_conformance: every answer's status, media type, body and headers are the
  documented ones, 4xx answers included;
- negative_data_rejection: input the document calls invalid is refused with a 4xx;
- ignored_auth, unsupported_method, missing_required_header.

Valid cases are pointed at seeded rows (ids, workflow_id, execution_id, team), so that GET, PUT,
PATCH and DELETE by id reach real records. The monitoring endpoint's `type` decides what a request
means, which OpenAPI 3.0 cannot tie to the body or the filters: the document says it in words and
in x-body-by-type. So the endpoint is also fuzzed split by type — for each type, the operation as
the document describes it for that type — and each run counts the 2xx answers per operation (and
per type) and asserts that every principal got through validation wherever it may: a document
that describes a body or a parameter wrongly shows up as zero.

Bounded and reproducible: few examples per operation, derandomized, no example database. The app
runs in-process (WSGI) inside the test's transaction; after-commit work (live events) runs after
every request, as it would in production.
"""

import copy
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

import jsonschema
import pytest
import schemathesis
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.dateparse import parse_datetime
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis import checks
from schemathesis.config import SchemathesisConfig

from alerts.models import AlertRule, Channel, Delivery, Route, Silence
from config.wsgi import application
from monitoring.api.throttling import ServiceTokenThrottle, UserThrottle
from monitoring.ingest import ingest
from monitoring.models import Execution, ServiceToken, Workflow
from monitoring.schemas import JSON_INT_MAX, JSON_INT_MIN, validate_records

SCHEMA_URL = "/api/v1/schema/?format=json"
MONITORING = "/api/workflows/monitoring/"
RESOURCES = ("workflows", "executions", "logs", "errors", "performance", "alerts")
ALERTING = ("alert-rules", "channels", "routes", "silences", "deliveries")
TYPES = {
    "GET": ("logs", "errors", "performance", "alerts", "error_groups", "live-status", "dashboard"),
    "POST": ("log", "error", "performance", "alert", "batch"),
    "PATCH": ("error", "alert"),
}

# --- how much is sent ------------------------------------------------------------------------------
# Examples per operation. Only the service token's runs send invalid input too (negative mode, and
# the coverage phase: each parameter missing, empty, of the wrong type, out of bounds, and methods
# a path does not have): what is invalid does not depend on who asks. The coverage phase runs on
# the reads by id (few parameters, every path) and on the monitoring endpoint's reads, where every
# filter is checked whatever the type.
EXAMPLES = {"token": 8, "member": 4, "superuser": 4}
EXAMPLES_PER_TYPE = 8
COVERED = {"every operation": r"^GET /api/v1/\w+/\{id\}/$", "one type": f"^GET {MONITORING}$"}
FUZZ = hypothesis_settings(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))


def schemathesis_config(examples, valid_only, covered=None, unexpected_methods=True):
    coverage = {"enabled": True}
    if not unexpected_methods:
        # A document split by type hides the path's other methods; its own parameters are what
        # the coverage phase is for, invalid ones.
        coverage.update({"unexpected-methods": [], "generation": {"mode": "negative"}})
    return SchemathesisConfig.from_dict({
        "generation": {"max-examples": examples, "deterministic": True, "database": "none",
                       "with-security-parameters": False, "mode": "positive" if valid_only else "all"},
        "phases": {"examples": {"enabled": False}, "stateful": {"enabled": False}, "coverage": {"enabled": False}},
        "operations": [{"include-name-regex": covered, "phases": {"coverage": coverage}}] if covered else [],
        # Every check but one. Valid input can be refused for reasons no schema can state — a
        # timestamp more than an hour ahead of now, a cursor this server did not issue, an
        # Idempotency-Key used before with another body — so instead of positive_data_acceptance
        # the runs count the 2xx answers of each operation (assert_got_through).
        "checks": {"positive_data_acceptance": {"enabled": False}},
    })


# --- the data the requests are pointed at ----------------------------------------------------------
def _records(workflow, execution):
    return {
        "log": [{"workflow_id": workflow, "execution_id": execution, "log_level": "info", "message": "m",
                 "step_number": 1}],
        "error": [{"workflow_id": workflow, "execution_id": execution, "error_message": "boom",
                   "severity": "critical"}],
        "performance": [{"workflow_id": workflow, "execution_id": execution, "total_duration": 5, "node_count": 3}],
        "alert": [{"workflow_id": workflow, "alert_type": "error", "severity": "warning", "title": "t"}],
    }


@dataclass
class World:
    """Rows of team acme (every principal here may see them), the credentials, what was answered."""

    ids: dict
    headers: dict
    cookies: dict
    statuses: dict = field(default_factory=lambda: defaultdict(Counter))
    valid_cases: int = 0

    def two_xx(self, label):
        return sum(n for status, n in self.statuses[label].items() if 200 <= status < 300)


@pytest.fixture
def seeded(db, team, other_team, monkeypatch):
    # With the real limits most of the run would be 429s.
    rates = {"service_token": "1000000/min", "user": "1000000/min"}
    monkeypatch.setattr(ServiceTokenThrottle, "THROTTLE_RATES", rates)
    monkeypatch.setattr(UserThrottle, "THROTTLE_RATES", rates)
    for t in (other_team, team):
        created = ingest(t, {k: validate_records(k, v)[0] for k, v in _records("wf-1", "e1").items()}).created
    # A workflow of its own for DELETE, so that deleting it takes no other operation's rows with it.
    disposable = Workflow.objects.create(team=team, external_id="wf-disposable", name="disposable")
    return {
        "workflows": Workflow.objects.get(team=team, external_id="wf-1").pk,
        "workflows:delete": disposable.pk,
        "executions": Execution.objects.get(workflow__team=team, external_id="e1").pk,
        "logs": str(created["log"][0].pk),
        "errors": str(created["error"][0].pk),
        "performance": str(created["performance"][0].pk),
        "alerts": str(created["alert"][0].pk),
        "error-groups": created["error"][0].group_id,
        **_alerting(team, created["alert"][0]),
    }


def _alerting(team, alert):
    """The team's alerting set-up: a rule, a (log) channel, a route, a silence and a delivery, and
    a disposable one of each for DELETE."""
    ids = {}
    for suffix in ("", ":delete"):
        channel = Channel.objects.create(team=team, name=f"log{suffix}", kind="log")
        ids["channels" + suffix] = channel.pk
        ids["alert-rules" + suffix] = AlertRule.objects.create(team=team, name=f"r{suffix}", kind="execution_failed").pk
        # On the first channel: deleting the disposable channel must not take the disposable route.
        ids["routes" + suffix] = Route.objects.create(team=team, name=f"r{suffix}", channel_id=ids["channels"]).pk
        ids["silences" + suffix] = Silence.objects.create(
            team=team, matchers={"severity": "info"}, ends_at=timezone.now() + timedelta(days=1)).pk
    ids["deliveries"] = Delivery.objects.create(alert=alert, channel_id=ids["channels"], event="firing").pk
    return ids


@pytest.fixture
def in_process_app():
    # Like Django's test client: the request signals must not close the test's connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield application
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def signed_in(user):
    """A session: its cookies, and the CSRF header its unsafe requests need."""
    browser = Client()
    browser.force_login(user)
    csrf = get_random_string(32)
    return {"X-CSRFToken": csrf}, {settings.SESSION_COOKIE_NAME: browser.cookies[settings.SESSION_COOKIE_NAME].value,
                                   settings.CSRF_COOKIE_NAME: csrf}


@pytest.fixture
def principals(seeded, team, make_user):
    return {
        "token": ({"Authorization": f"Bearer {ServiceToken.issue(team, 'fuzz')[1]}"}, {}),
        "member": signed_in(make_user("member", team, "member")),
        "superuser": signed_in(make_user("root", superuser=True)),
    }


# --- the document ------------------------------------------------------------------------------------
_DOCUMENT = {}


def document():
    """The OpenAPI document as /api/v1/schema/ serves it (generated once per test session)."""
    if not _DOCUMENT:
        generated = SchemaGenerator().get_schema(request=None, public=True)
        _DOCUMENT.update(json.loads(OpenApiJsonRenderer().render(generated)))
    return _DOCUMENT


def split_by_type(method, kind):
    """The document with the monitoring endpoint's `method` alone, as it reads for type=kind: the
    `type` parameter fixed, the body the one x-body-by-type gives for it."""
    derived = copy.deepcopy(document())
    operation = derived["paths"][MONITORING][method.lower()]
    derived["paths"] = {MONITORING: {method.lower(): operation}}
    next(p for p in operation["parameters"] if p["name"] == "type")["schema"]["enum"] = [kind]
    if "x-body-by-type" in operation:
        operation["requestBody"]["content"]["application/json"]["schema"] = operation["x-body-by-type"][kind]
    return derived


def load(raw, config):
    loaded = schemathesis.openapi.from_dict(raw, config=config)
    loaded.app = application
    return loaded


def _json_schema(node):
    """OpenAPI 3.0's `nullable` in JSON Schema terms, for jsonschema."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    return {"anyOf": [converted, {"type": "null"}]} if node.get("nullable") else converted


_BODIES = {}


def body_validators(method):
    """type -> a validator of the body the document gives for it (the operation's x-body-by-type)."""
    if method not in _BODIES:
        components = _json_schema(document()["components"])
        bodies = document()["paths"][MONITORING][method.lower()]["x-body-by-type"]
        _BODIES[method] = {kind: jsonschema.Draft4Validator({"allOf": [ref], "components": components})
                           for kind, ref in bodies.items()}
    return _BODIES[method]


# --- making valid cases meet what the document says in words ------------------------------------------
def _records_in(body):
    """The record objects of a body: the body itself, or a batch's items."""
    if not isinstance(body, dict):
        return []
    lists = [value for value in body.values() if isinstance(value, list)]
    return [body] + [item for items in lists for item in items if isinstance(item, dict)]


def _without_nul(value):
    """No NUL characters in text, keys included; integers in metadata within 64 bits."""
    if isinstance(value, dict):
        return {key.replace("\x00", ""): _without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, int) and not isinstance(value, bool):
        return min(max(value, JSON_INT_MIN), JSON_INT_MAX)
    return value


def within_stated_rules(body):
    """The rules of record bodies the document states in words, because JSON Schema cannot: no NUL
    characters, 64-bit integers in metadata (at any depth), timestamps at most an hour ahead of now."""
    body = _without_nul(body)
    now = timezone.now()
    for record in _records_in(body):
        stamp = record.get("timestamp")
        parsed = parse_datetime(stamp) if isinstance(stamp, str) else None
        if parsed is not None and parsed > now:
            record["timestamp"] = now.isoformat()
    return body


def make_coherent(case):
    """A valid case made to mean what it says: the monitoring endpoint's `type` matches the body
    (the type whose x-body-by-type the body fits), type=live-status names one workflow, record
    bodies keep the rules their descriptions state."""
    if case.body is not None and not isinstance(case.body, (str, bytes)):
        case.body = within_stated_rules(case.body)
    if case.path != MONITORING or not isinstance(case.query, dict):
        return
    if case.method in ("POST", "PATCH"):
        fitting = [kind for kind, valid in body_validators(case.method).items() if valid.is_valid(case.body)]
        if fitting and case.query.get("type") not in fitting:
            case.query["type"] = fitting[0]
    if case.method == "GET" and case.query.get("type") == "live-status":
        # One workflow: its id, and the team for people who see the id in several teams.
        case.query.update(workflow_id="wf-1", team="acme")


def aim_at_seeded_rows(case, world):
    """Point a valid case at rows that exist."""
    ids = world.ids
    if case.path_parameters and "id" in case.path_parameters:
        resource = case.path.split("/")[3]  # /api/v1/<resource>/{id}/
        case.path_parameters["id"] = ids.get(f"{resource}:{case.method.lower()}", ids[resource])
    if case.headers and "Idempotency-Key" in case.headers:
        # A fresh key: a key the run used before with another body is a 422, whatever the body.
        case.headers["Idempotency-Key"] += f"-{world.valid_cases}"
    query = case.query if isinstance(case.query, dict) else {}
    for name, value in (("workflow_id", "wf-1"), ("execution_id", "e1"), ("team", "acme")):
        if name in query:
            query[name] = value
    if case.path == MONITORING and case.method == "PATCH" and query.get("type") in ("error", "alert"):
        query["id"] = ids[f"{query['type']}s"]
    if case.method == "POST" and "team" not in query and isinstance(case.query, dict):
        query["team"] = "acme"  # a super admin may post to every team, so must name one (both APIs)


def nothing_made_invalid(case):
    """schemathesis labels a case that leaves out an optional body "negative" though no part of it
    was made invalid (no mutation recorded): it is valid input, which the server rightly accepts."""
    meta = case.meta
    return meta.generation.mode.is_negative and not getattr(meta.phase.data, "mutations", True)


def send(case, world, capture_on_commit):
    """Send the case, run schemathesis' checks on the answer, count the answer."""
    if not case.meta.generation.mode.is_negative:
        world.valid_cases += 1
        if world.valid_cases % 4:  # every fourth valid case goes as generated: unknown ids, stray values
            make_coherent(case)
            aim_at_seeded_rows(case, world)
    excluded = [checks.negative_data_rejection] if nothing_made_invalid(case) else []
    if world.cookies:
        # ignored_auth sends the request again without the credentials it knows of; a session
        # cookie passed to the transport is not one of them, so the retry would still be signed in.
        excluded.append(checks.ignored_auth)
    with capture_on_commit(execute=True):
        response = case.call_and_validate(headers=world.headers, cookies=world.cookies or None,
                                          excluded_checks=excluded)
    label = f"{case.method} {case.path}"
    if case.path == MONITORING and isinstance(case.query, dict) and case.method != "DELETE":
        label += f"?type={case.query.get('type')}"
    world.statuses[label][response.status_code] += 1


def assert_got_through(world, who, labels):
    """Each of these operations got at least one 2xx: its documented input is what the server takes."""
    answers = "\n".join(f"  {label}: {dict(sorted(counts.items()))}" for label, counts in sorted(world.statuses.items()))
    print(f"\n--- {who}: answers per operation ---\n{answers}")
    missing = [label for label in labels if world.two_xx(label) == 0]
    assert not missing, f"{who} got no 2xx for {missing}; answers:\n{answers}"


# --- every operation, as documented ----------------------------------------------------------------
V1_READS = [f"GET /api/v1/{resource}/{path}" for resource in RESOURCES for path in ("", "{id}/")]
V1_POSTS = [f"POST /api/v1/{resource}/" for resource in RESOURCES]
V1_RESPONSES = ["PATCH /api/v1/errors/{id}/", "PATCH /api/v1/alerts/{id}/"]
V1_ADMIN = ["PUT /api/v1/workflows/{id}/", "PATCH /api/v1/workflows/{id}/", "DELETE /api/v1/workflows/{id}/",
            f"DELETE {MONITORING}"]
# The alerting set-up: everyone here reads it, super admins (team admins) change it, tokens post
# Alertmanager's webhook. (Creating a rule or a channel depends on its kind's params, which the
# document cannot tie to the kind: those are counted, not required.)
ALERTING_READS = [f"GET /api/v1/{resource}/{path}" for resource in ALERTING for path in ("", "{id}/")]
ALERTING_ADMIN = [f"DELETE /api/v1/{resource}/{{id}}/" for resource in ALERTING if resource != "deliveries"] + [
    "POST /api/v1/channels/{id}/test/", "POST /api/v1/silences/{id}/expire/"]
ALERTMANAGER = "POST /api/v1/integrations/alertmanager/"
GOT_THROUGH = {
    "token": V1_READS + V1_POSTS + V1_RESPONSES + ["PATCH /api/v1/executions/{id}/"] + ALERTING_READS + [ALERTMANAGER],
    "member": V1_READS + V1_RESPONSES + ALERTING_READS,
    "superuser": V1_READS + V1_POSTS + V1_RESPONSES + V1_ADMIN + ["PATCH /api/v1/executions/{id}/"] + ALERTING_READS
    + ALERTING_ADMIN,
}


@pytest.fixture(params=list(EXAMPLES))
def run(request, seeded, principals, in_process_app):
    who = request.param
    world = World(seeded, *principals[who])
    config = schemathesis_config(EXAMPLES[who], valid_only=who != "token",
                                 covered=COVERED["every operation"] if who == "token" else None)
    yield load(copy.deepcopy(document()), config), world
    assert_got_through(world, who, GOT_THROUGH[who])


@pytest.fixture
def every_operation(run):
    return run[0]


@pytest.fixture
def world(run):
    return run[1]


every_operation_api = schemathesis.pytest.from_fixture("every_operation")


@every_operation_api.parametrize()
@FUZZ
def test_fuzz_every_operation(case, world, django_capture_on_commit_callbacks):
    send(case, world, django_capture_on_commit_callbacks)


# --- the monitoring endpoint, split by type --------------------------------------------------------
# (principal, method, type) for every type a principal may use: members read and respond, but may
# not post (403, which the runs above check).
BY_TYPE = [(who, method, kind) for who in EXAMPLES for method, kinds in TYPES.items() for kind in kinds
           if not (who == "member" and method == "POST")]


@pytest.fixture(params=BY_TYPE, ids=lambda p: "-".join(p))
def by_type(request, seeded, principals, in_process_app):
    who, method, kind = request.param
    world = World(seeded, *principals[who])
    # Invalid input for the reads once, with one type: the filters are checked whatever the type.
    invalid_too = who == "token" and (method, kind) == ("GET", "alerts")
    config = schemathesis_config(EXAMPLES_PER_TYPE, valid_only=not invalid_too, unexpected_methods=False,
                                 covered=COVERED["one type"] if invalid_too else None)
    yield load(split_by_type(method, kind), config), world
    assert_got_through(world, f"{who}, {method} type={kind}", [f"{method} {MONITORING}?type={kind}"])


@pytest.fixture
def one_type(by_type):
    return by_type[0]


@pytest.fixture
def type_world(by_type):
    return by_type[1]


one_type_api = schemathesis.pytest.from_fixture("one_type")


@one_type_api.parametrize()
@FUZZ
def test_fuzz_the_monitoring_endpoint_by_type(case, type_world, django_capture_on_commit_callbacks):
    send(case, type_world, django_capture_on_commit_callbacks)


# --- the document itself -------------------------------------------------------------------------------
def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_schema_is_a_valid_openapi_3_document_of_both_apis(api):
    r = api.get(SCHEMA_URL)
    assert r.status_code == 200
    served = r.json()
    assert served["openapi"].startswith("3.")
    validate_schema(served)  # against the OpenAPI 3 JSON schema; raises if invalid
    for ref in set(_refs(served)):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.rsplit("/", 1)[1] in served["components"]["schemas"], ref
    assert served["paths"] == document()["paths"]  # what the fuzz runs read is what clients get

    paths = served["paths"]
    for resource in RESOURCES:
        assert {"get", "post"} <= set(paths[f"/api/v1/{resource}/"]), resource
        assert "get" in paths[f"/api/v1/{resource}/{{id}}/"], resource
    for resource in ("executions", "errors", "alerts", "workflows"):
        assert "patch" in paths[f"/api/v1/{resource}/{{id}}/"], resource
    assert served["components"]["securitySchemes"]["ServiceToken"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "ft_…",
    }


def _parameters(operation):
    return {p["name"]: p for p in operation.get("parameters", [])}


def test_each_method_of_the_monitoring_endpoint_documents_only_its_own_parameters(api):
    operations = api.get(SCHEMA_URL).json()["paths"][MONITORING]
    assert set(operations) == {"get", "post", "patch", "delete"}
    get, post, patch, delete = (_parameters(operations[m]) for m in ("get", "post", "patch", "delete"))
    for method, parameters in (("GET", get), ("POST", post), ("PATCH", patch)):
        assert parameters["type"]["schema"]["enum"] == list(TYPES[method]) and parameters["type"]["required"]
    assert {"log_levels", "severity", "resolved", "start_time", "period", "limit", "offset"} <= set(get)
    assert set(post) == {"type", "team", "Idempotency-Key"}
    assert set(patch) == {"type", "id"} and patch["id"]["required"]
    assert set(delete) == {"retention_days", "dry_run"} and delete["retention_days"]["required"]


def test_the_monitoring_endpoint_documents_each_types_body_and_every_answer(api):
    served = api.get(SCHEMA_URL).json()
    operations, schemas = served["paths"][MONITORING], served["components"]["schemas"]
    post, patch = operations["post"], operations["patch"]
    assert list(post["x-body-by-type"]) == list(TYPES["POST"])
    # Each record body requires a field the others refuse: exactly one fits (oneOf).
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "oneOf": list(post["x-body-by-type"].values())}
    assert list(patch["x-body-by-type"]) == list(TYPES["PATCH"])
    # {"resolved": true} resolves an error or an alert: either may fit (anyOf).
    assert patch["requestBody"]["content"]["application/json"]["schema"] == {
        "anyOf": list(patch["x-body-by-type"].values())}
    log_body = schemas["LogInRequest"]
    assert log_body["additionalProperties"] is False
    assert set(log_body["required"]) == {"workflow_id", "execution_id", "log_level", "message"}
    # Resolving needs `resolved`: validated whole, not as a partial update, on both APIs.
    assert schemas["ErrorUpdateInRequest"]["required"] == ["resolved"]
    assert served["paths"]["/api/v1/errors/{id}/"]["patch"]["requestBody"]["content"]["application/json"][
        "schema"] == {"$ref": "#/components/schemas/ErrorUpdateInRequest"}
    for method, success in (("get", "200"), ("post", "201"), ("patch", "200"), ("delete", "200")):
        responses = operations[method]["responses"]
        assert responses[success]["content"]["application/json"]["schema"]["required"] == ["success", "data"]
        for code in ("400", "401", "403" if method != "get" else "404", "429"):
            assert responses[code]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorEnvelope"}, (method, code)
        assert responses["503"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ServiceUnavailable"}
        assert "Retry-After" in responses["503"]["headers"]


def test_docs_page_loads_swagger_ui_from_this_server(api):
    html = api.get("/api/v1/docs/").content.decode()
    assert "swagger-ui" in html
    assert "cdn." not in html and "//unpkg" not in html and "jsdelivr" not in html


def test_v1_documents_its_error_answers_and_what_its_writes_take(api):
    paths = api.get(SCHEMA_URL).json()["paths"]
    logs = paths["/api/v1/logs/"]
    assert set(logs["get"]["responses"]) == {"200", "400", "401", "404", "429", "503"}
    assert set(logs["post"]["responses"]) == {"201", "400", "401", "403", "404", "413", "415", "422", "429", "503"}
    assert logs["get"]["responses"]["400"]["content"]["application/json"]["schema"] == {"anyOf": [
        {"$ref": "#/components/schemas/ValidationErrors"}, {"$ref": "#/components/schemas/ErrorEnvelope"}]}
    assert logs["get"]["responses"]["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorDetail"}
    assert {"team", "Idempotency-Key"} <= set(_parameters(logs["post"]))
    limit = _parameters(logs["get"])["limit"]["schema"]
    assert (limit["minimum"], limit["maximum"]) == (1, settings.FLOWTOWER_MAX_LIMIT)
    assert _parameters(logs["get"])["workflow_id"]["schema"]["maxLength"] == 255
    # Posting an execution that exists updates it: 200, not 201.
    assert {"200", "201"} <= set(paths["/api/v1/executions/"]["post"]["responses"])
    # A workflow's id is in the URL; PUT takes the fields that may change, not workflow_id.
    assert paths["/api/v1/workflows/{id}/"]["put"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WorkflowUpdateInRequest"}


# --- what the fuzz runs found --------------------------------------------------------------------------
def test_a_percent_sign_in_a_v1_boolean_filter_is_a_400_naming_the_filter(api):
    # Was a 500: django-filter %-formats error messages, and the value was part of the message.
    r = api.get("/api/v1/errors/", {"resolved": "50%d"})
    assert r.status_code == 400
    assert r.json()["resolved"] == ["must be true or false, got '50%d'"]


def test_every_filter_of_a_monitoring_endpoint_read_is_checked_whatever_the_type(api):
    # Was a 200: a filter the type does not use was not looked at, so a wrong value went unnoticed.
    r = api.get(MONITORING, {"type": "dashboard", "acknowledged": "maybe"})
    assert r.status_code == 400
    assert r.json()["details"] == {"acknowledged": ["must be true or false, got 'maybe'"]}
    # A valid one still changes nothing for that type.
    assert api.get(MONITORING, {"type": "logs", "acknowledged": "true"}).json() == api.get(
        MONITORING, {"type": "logs"}).json()
