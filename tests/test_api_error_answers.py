"""Errors outside the happy path: every answer under /api/ is JSON with a request id — unknown
endpoints, too many parameters, an unexpected exception (500), an unreachable database (503 with
Retry-After) — and a failing request leaves nothing behind for the next one."""

import socket

import pytest
from django.db import OperationalError
from django.db.models.signals import pre_save
from django.test import override_settings

from monitoring import queries
from monitoring.api import throttling
from monitoring.api.throttling import ServiceTokenThrottle
from monitoring.api.v1 import LogViewSet
from monitoring.models import ExecutionLog

URL = "/api/workflows/monitoring"
LOG = {"workflow_id": "wf-1", "execution_id": "e1", "log_level": "info", "message": "m"}


@pytest.fixture
def failing_dashboard(monkeypatch):
    def fail_with(exc):
        def boom(*args, **kwargs):
            raise exc

        monkeypatch.setattr(queries, "dashboard", boom)

    return fail_with


def test_every_answer_carries_a_request_id_and_a_proxy_id_is_kept(api):
    r = api.get(f"{URL}?type=dashboard")
    assert len(r["X-Request-ID"]) == 32
    r = api.get(f"{URL}?type=dashboard", HTTP_X_REQUEST_ID="edge-7f3a9c21")
    assert r["X-Request-ID"] == "edge-7f3a9c21"
    # Anything that does not look like an id (here: a header injection attempt) is replaced.
    r = api.get(f"{URL}?type=dashboard", HTTP_X_REQUEST_ID="x\r\nSet-Cookie: a=b")
    assert r["X-Request-ID"] != "x\r\nSet-Cookie: a=b" and len(r["X-Request-ID"]) == 32


def test_json_errors_name_the_request_id(api):
    r = api.post(f"{URL}?type=log", {**LOG, "log_level": "loud"}, format="json")
    assert r.status_code == 400 and r.json()["request_id"] == r["X-Request-ID"]
    r = api.get("/api/v1/logs/?level=loud")
    assert r.status_code == 400 and r.json()["request_id"] == r["X-Request-ID"]


def test_unknown_api_path_is_a_json_404(api):
    r = api.get("/api/v2/nothing-here/")
    assert r.status_code == 404 and r["Content-Type"] == "application/json"
    assert r.json() == {"success": False, "error": "No API endpoint at /api/v2/nothing-here/.",
                        "request_id": r["X-Request-ID"]}


@pytest.mark.parametrize("path", [f"{URL}?type=logs&", "/api/v1/logs/?"])
def test_too_many_query_parameters_is_a_json_400(api, path):
    r = api.get(path + "&".join(f"p{i}=1" for i in range(1001)))
    assert r.status_code == 400 and r["Content-Type"] == "application/json"
    assert "Too many query parameters" in r.json()["error"]


def test_an_unexpected_exception_is_a_json_500_without_a_traceback(api, failing_dashboard):
    failing_dashboard(RuntimeError("secret internals"))
    api.raise_request_exception = False
    r = api.get(f"{URL}?type=dashboard")
    assert r.status_code == 500 and r["Content-Type"] == "application/json"
    body = r.json()
    assert body["success"] is False and body["request_id"] == r["X-Request-ID"]
    assert "secret internals" not in r.content.decode() and "Traceback" not in r.content.decode()


@pytest.mark.parametrize("path", [f"{URL}?type=dashboard", "/api/v1/logs/"])
def test_an_unreachable_database_is_a_json_503_with_retry_after(api, failing_dashboard, monkeypatch, path):
    failing_dashboard(OperationalError("connection refused"))
    monkeypatch.setattr(LogViewSet, "get_queryset", lambda self: (_ for _ in ()).throw(OperationalError("down")))
    api.raise_request_exception = False
    r = api.get(path)
    assert r.status_code == 503, r.content
    assert int(r["Retry-After"]) > 0
    assert r.json()["success"] is False and r.json()["request_id"] == r["X-Request-ID"]


def test_a_page_during_a_database_outage_is_a_short_503_page(client, make_user, team, monkeypatch):
    from monitoring import stats

    client.force_login(make_user("m", team, "member"))
    monkeypatch.setattr(stats, "overview", lambda *a, **k: (_ for _ in ()).throw(OperationalError("down")))
    client.raise_request_exception = False
    r = client.get("/")
    assert r.status_code == 503 and int(r["Retry-After"]) > 0
    assert b"Temporarily unavailable" in r.content


def test_failing_requests_leave_no_signal_receivers_behind(api, failing_dashboard):
    """The freeze: every API request connected an audit receiver and a failing one never removed
    it; the garbage collector later removed it while another thread held the signal's lock."""
    api.get(f"{URL}?type=dashboard")
    before = len(pre_save.receivers)
    failing_dashboard(RuntimeError("boom"))
    api.raise_request_exception = False
    for _ in range(20):
        assert api.get(f"{URL}?type=dashboard").status_code == 500
        assert api.post(f"{URL}?type=log", {**LOG, "log_level": "loud"}, format="json").status_code == 400
    assert len(pre_save.receivers) == before


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_down(monkeypatch):
    """The cache pointed at a port where no Redis listens (connection refused, as when it is down)."""
    down = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                        "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
                        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
    monkeypatch.setattr(throttling, "_shared_cache_down_until", 0.0)
    throttling._local_counters.clear()
    with override_settings(CACHES=down):  # Django rebuilds its cache connections on this change
        yield
    throttling._local_counters.clear()


def test_with_redis_down_posts_are_stored_and_limits_are_counted_per_process(api, redis_down, monkeypatch, caplog):
    monkeypatch.setattr(ServiceTokenThrottle, "THROTTLE_RATES", {"service_token": "3/min", "user": "3/min"})
    codes = [api.post(f"{URL}?type=log", {**LOG, "message": f"m{i}"}, format="json").status_code for i in range(4)]
    assert codes == [201, 201, 201, 429]
    assert sorted(ExecutionLog.objects.values_list("message", flat=True)) == ["m0", "m1", "m2"]
    assert "rate limits counted per process" in caplog.text
