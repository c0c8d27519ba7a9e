"""Reading n8n through its public API: the answers a real n8n 1.123.81 gave, served by a local
HTTP server that behaves like n8n (API key header, cursor pages, status lists). The API reader
must see exactly what the database reader sees in that n8n's database."""

import json
from collections import Counter
from pathlib import Path

import pytest
import requests
from werkzeug import Response

from n8n_mirror.readers import CredentialsRejected, SourceTimeout, SourceUnreachable, UnexpectedAnswer
from n8n_mirror.readers.api import ApiReader
from n8n_mirror.readers.database import DatabaseReader

FIXTURES = Path(__file__).parent / "fixtures" / "n8n"
ANSWERS = FIXTURES / "api-1.123.81"
KEY = "n8n-api-key-for-tests"


def _answer(name):
    return json.loads((ANSWERS / name).read_text())


class FakeN8n:
    """Serves the recorded answers the way n8n does; counts what it was asked."""

    def __init__(self):
        self.pages = [_answer(f"executions-page-{i}.json") for i in (1, 2, 3)]
        self.by_cursor = {None: self.pages[0]}
        for page, following in zip(self.pages, self.pages[1:]):
            self.by_cursor[page["nextCursor"]] = following
        self.by_id = {e["id"]: e for page in self.pages for e in page["data"]}
        self.waiting = _answer("executions-waiting.json")
        self.asked = []
        self.default_list_hides_unfinished = False

    def __call__(self, request):
        if request.headers.get("X-N8N-API-KEY") != KEY:
            return Response(json.dumps({"message": "unauthorized"}), 401, content_type="application/json")
        self.asked.append((request.path, dict(request.args)))
        path = request.path.removeprefix("/api/v1/")
        if path == "workflows":
            body = _answer("workflows.json")
        elif path == "executions":
            body = self._list(request.args)
        elif path.startswith("executions/"):
            found = self.by_id.get(path.split("/")[1])
            if found is None:
                return Response(json.dumps({"message": "Not Found"}), 404, content_type="application/json")
            body = found
        else:
            return Response("{}", 404, content_type="application/json")
        return Response(json.dumps(body), 200, content_type="application/json")

    def _list(self, args):
        status = args.get("status")
        if status == "waiting":
            return self.waiting
        if status:
            data = [e for page in self.pages for e in page["data"] if e["status"] == status]
            return {"data": data, "nextCursor": None}
        page = self.by_cursor[args.get("cursor")]
        if self.default_list_hides_unfinished:
            page = {**page, "data": [e for e in page["data"] if e["status"] not in ("running", "waiting")]}
        return page


@pytest.fixture
def n8n(httpserver):
    fake = FakeN8n()
    httpserver.expect_request("/api/v1/workflows").respond_with_handler(fake)
    httpserver.expect_request("/api/v1/executions").respond_with_handler(fake)
    for execution_id in [*fake.by_id, "999"]:
        httpserver.expect_request(f"/api/v1/executions/{execution_id}").respond_with_handler(fake)
    fake.url = httpserver.url_for("/")
    return fake


def test_reads_the_same_as_the_database_reader(n8n):
    api = ApiReader(n8n.url, KEY)
    database = DatabaseReader(FIXTURES / "n8n-1.123.81.sqlite")
    assert {w.id: w for w in api.list_workflows()} == {w.id: w for w in database.list_workflows()}
    from_api = api.list_executions(limit=1000)
    from_db = database.list_executions(limit=1000)
    assert [e.id for e in from_api] == [str(i) for i in range(1, 31)]
    fields = ("id", "workflow_id", "status", "mode", "started_at", "stopped_at", "finished", "retry_of", "wait_till",
              "run_data", "error", "last_node_executed", "data_available", "custom_data")
    for a, d in zip(from_api, from_db):
        assert {f: getattr(a, f) for f in fields} == {f: getattr(d, f) for f in fields}, a.id
    assert Counter(e.status for e in from_api) == {"success": 19, "error": 10, "waiting": 1}


def test_custom_data_comes_from_customData_and_may_be_absent(n8n):
    # n8n 1.123.81 answers customData {} for every execution here; one saved two keys, and an
    # older n8n leaves the field out.
    n8n.by_id["17"]["customData"] = {"order_id": "A-1002", "customer": "acme"}
    del n8n.by_id["18"]["customData"]
    reader = ApiReader(n8n.url, KEY)
    executions = {e.id: e for e in reader.list_executions(limit=1000)}
    assert executions["17"].custom_data == {"order_id": "A-1002", "customer": "acme"}
    assert executions["18"].custom_data == {} and executions["3"].custom_data == {}
    assert reader.get_execution("17").custom_data == {"order_id": "A-1002", "customer": "acme"}


def test_follows_the_cursor_and_asks_for_running_and_waiting_too(n8n):
    ApiReader(n8n.url, KEY).list_executions()
    lists = [args for path, args in n8n.asked if path == "/api/v1/executions"]
    assert [a.get("cursor") for a in lists if "status" not in a] == [None, *(p["nextCursor"] for p in n8n.pages[:2])]
    assert sorted(a["status"] for a in lists if "status" in a) == ["running", "waiting"]
    assert all(a["includeData"] == "true" and a["limit"] == "250" for a in lists)


def test_a_waiting_execution_the_default_list_leaves_out_is_still_read(n8n):
    n8n.default_list_hides_unfinished = True
    executions = ApiReader(n8n.url, KEY).list_executions()
    assert len(executions) == 30
    [waiting] = [e for e in executions if e.status == "waiting"]
    assert waiting.id == "29" and waiting.last_node_executed == "Wait for approval"


def test_incremental_reads_stop_at_the_cursor(n8n):
    reader = ApiReader(n8n.url, KEY)
    assert [e.id for e in reader.list_executions(after_id=27)] == ["28", "29", "30"]
    default_pages = [a for p, a in n8n.asked if p == "/api/v1/executions" and "status" not in a]
    assert len(default_pages) == 1  # the first page already reached the cursor
    assert [e.id for e in reader.list_executions(after_id=5, limit=4)] == ["6", "7", "8", "9"]
    assert reader.list_executions(after_id=30) == []


def test_rereads_given_ids_and_skips_pruned_ones(n8n):
    reader = ApiReader(n8n.url, KEY)
    again = reader.list_executions(ids=["29", "999", "17"])
    assert [(e.id, e.status) for e in again] == [("17", "error"), ("29", "waiting")]
    assert again[1].last_node_executed == "Wait for approval" and again[1].data_available
    assert reader.get_execution("999") is None


def test_a_status_filter_asks_n8n_for_those_lists(n8n):
    errors = ApiReader(n8n.url, KEY).list_executions(statuses=["error"])
    assert len(errors) == 10 and {e.status for e in errors} == {"error"}


def test_a_rejected_key_is_a_clear_error(n8n):
    with pytest.raises(CredentialsRejected, match="rejected the API key .HTTP 401"):
        ApiReader(n8n.url, "wrong-key").list_workflows()


def test_unreachable_and_slow_n8n_are_clear_errors(httpserver):
    with pytest.raises(SourceUnreachable, match="unreachable"):
        ApiReader("http://127.0.0.1:1", KEY).list_workflows()

    def slow_get(url, **kwargs):
        raise requests.ReadTimeout("read timed out")

    with pytest.raises(SourceTimeout, match="did not answer within"):
        ApiReader(httpserver.url_for("/"), KEY, get=slow_get).list_executions()


def test_not_n8n_is_a_clear_error(httpserver):
    httpserver.expect_request("/api/v1/workflows").respond_with_data("<html>login</html>", content_type="text/html")
    with pytest.raises(UnexpectedAnswer, match="not JSON"):
        ApiReader(httpserver.url_for("/"), KEY).list_workflows()


def test_uses_the_http_getter_it_is_given(n8n):
    # The sync engine passes Flowtower's outbound session; every request must go through it.
    session, calls = requests.Session(), []

    def get(url, **kwargs):
        calls.append(url)
        return session.get(url, **kwargs)

    ApiReader(n8n.url, KEY, get=get).list_workflows()
    assert calls == [n8n.url.rstrip("/") + "/api/v1/workflows"]
