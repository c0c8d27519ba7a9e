"""An OpenAPI fuzz run (schemathesis) over every operation of /api/v1/schema/ — which documents
/api/v1/ and seed 002's /api/workflows/monitoring — that must find no 5xx answer."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from config.wsgi import application
from monitoring.api.throttling import ServiceTokenThrottle
from monitoring.ingest import ingest
from monitoring.models import ServiceToken
from monitoring.schemas import validate_records


@pytest.fixture
def fuzz_token(transactional_db, team, monkeypatch):
    # Throttling would turn most of the run into 429s: lift it for the fuzzer's token.
    monkeypatch.setattr(ServiceTokenThrottle, "THROTTLE_RATES", {"service_token": "1000000/min", "user": "1000/min"})
    raw = ServiceToken.issue(team, "fuzz")[1]
    # Some data, so that lookups and filters can hit real rows.
    items = {"log": [{"workflow_id": "wf-1", "execution_id": "e1", "log_level": "info", "message": "m"}],
             "alert": [{"workflow_id": "wf-1", "alert_type": "error", "severity": "warning", "title": "t"}]}
    ingest(team, {k: validate_records(k, v)[0] for k, v in items.items()})
    return raw


@pytest.fixture
def api_schema(fuzz_token):
    # The app runs in-process inside the test's transaction; like Django's own test client, keep
    # the request signals from closing that connection between requests.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi(
            "/api/v1/schema/?format=json", application, headers={"Authorization": f"Bearer {fuzz_token}"}
        )
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, fuzz_token):
    response = case.call(headers={"Authorization": f"Bearer {fuzz_token}"})
    assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"


def test_schema_documents_every_resource_and_the_seed_endpoint(api):
    document = api.get("/api/v1/schema/?format=json").json()
    assert document["openapi"].startswith("3.")
    paths = set(document["paths"])
    for resource in ("workflows", "executions", "logs", "errors", "performance", "alerts"):
        assert f"/api/v1/{resource}/" in paths and f"/api/v1/{resource}/{{id}}/" in paths
    monitoring = next(p for p in paths if p.startswith("/api/workflows/monitoring"))
    assert set(document["paths"][monitoring]) >= {"get", "post", "patch", "delete"}
    assert document["components"]["securitySchemes"]["ServiceToken"]["scheme"] == "bearer"


def test_docs_page_loads_swagger_ui_from_this_server(api):
    html = api.get("/api/v1/docs/").content.decode()
    assert "swagger-ui" in html
    assert "cdn." not in html and "//unpkg" not in html and "jsdelivr" not in html
