"""Per-node analysis (monitoring.node_stats): runs, p50 / p95, failure share per node over a window,
the change against the window before, one workflow's data only, through the function, the REST
API (/api/v1/workflows/<id>/nodes/) and the workflow page."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from monitoring import node_stats as node_stats_module
from monitoring.models import Execution, ExecutionLog, ServiceToken, Workflow
from monitoring.node_stats import node_stats

NOW = timezone.now().replace(microsecond=0)


def make_workflow(team, external_id="wf-1"):
    return Workflow.objects.create(team=team, external_id=external_id, name=f"{external_id} name")


def run(workflow, execution_id, when, *logs):
    """One execution and its logs: (node_name, duration, level) each, a few seconds apart."""
    execution = Execution.objects.create(workflow=workflow, external_id=execution_id, started_at=when)
    ExecutionLog.objects.bulk_create(
        ExecutionLog(workflow=workflow, execution=execution, node_name=node, duration=duration, log_level=level,
                     message=f"{node} {level}", timestamp=when + timedelta(seconds=i))
        for i, (node, duration, level) in enumerate(logs)
    )


@pytest.fixture
def world(team, other_team):
    """wf-1 of acme: Fetch ran 5 times in the last 7 days (100..500 ms, one failed) and twice in
    the 7 days before (100 ms each); Store ran once, its two logs in one execution; Notify ran once
    with no duration; some logs name no node. wf-2 of acme and wf-1 of globex run the same node
    names with other numbers, which must not mix in."""
    wf = make_workflow(team)
    for i, duration in enumerate([100, 200, 300, 400, 500]):
        level = "error" if duration == 200 else "info"
        run(wf, f"cur-{i}", NOW - timedelta(days=1, hours=i + 1), ("Fetch", duration, level), ("", 9999, "fatal"))
    run(wf, "store", NOW - timedelta(hours=3), ("Store", 50, "info"), ("Store", 70, "warn"), ("Notify", None, "info"))
    for i in range(2):
        run(wf, f"prev-{i}", NOW - timedelta(days=8, hours=i), ("Fetch", 100, "info"))
    run(wf, "too-old", NOW - timedelta(days=15), ("Fetch", 90_000, "fatal"), ("Ancient", 5, "info"))
    for other in (make_workflow(team, "wf-2"), make_workflow(other_team, "wf-1")):
        run(other, "x", NOW - timedelta(hours=1), ("Fetch", 77_777, "fatal"), ("Foreign", 1, "info"))
    return wf


def by_name(answer):
    return {node["node_name"]: node for node in answer["nodes"]}


def test_percentiles_failure_share_and_change(world):
    answer = node_stats(world, now=NOW)
    assert answer["workflow_id"] == "wf-1" and answer["days"] == 7
    fetch = by_name(answer)["Fetch"]
    # p50 of 100..500 is 300; p95 interpolates: 400 + 0.8 * 100.
    assert fetch == {
        "node_name": "Fetch", "runs": 5, "p50_ms": 300, "p95_ms": 480, "failure_share": 0.2,
        "previous": {"runs": 2, "p95_ms": 100, "failure_share": 0.0},
        "change": {"runs": 3, "p95_ms": 380, "failure_share": 0.2},
    }


def test_a_run_is_a_node_in_one_execution(world):
    nodes = by_name(node_stats(world, now=NOW))
    # Store's two logs in one execution are one run of 120 ms; a warning is not a failure.
    assert nodes["Store"] | {} == {"node_name": "Store", "runs": 1, "p50_ms": 120, "p95_ms": 120,
                                    "failure_share": 0.0, "previous": None, "change": None}
    # A run without a duration counts, untimed.
    assert (nodes["Notify"]["runs"], nodes["Notify"]["p95_ms"]) == (1, None)


def test_only_this_workflows_named_nodes_in_the_window(world):
    nodes = by_name(node_stats(world, now=NOW))
    # No unnamed logs, no other workflow's or team's nodes, nothing from before the previous window.
    assert set(nodes) == {"Fetch", "Store", "Notify"}
    assert nodes["Fetch"]["p95_ms"] == 480


def test_most_failing_then_slowest_first(world, team):
    run(world, "slow", NOW - timedelta(hours=2), ("Slow", 5_000, "info"))
    names = [node["node_name"] for node in node_stats(world, now=NOW)["nodes"]]
    assert names == ["Fetch", "Slow", "Store", "Notify"]


def test_days_sets_both_windows(world):
    # One day: the current window holds only the Store execution; the day before has Fetch's five runs
    # (1..5 hours before NOW - 1 day) but Fetch did not run in the last day, so it is not listed.
    assert [node["node_name"] for node in node_stats(world, days=1, now=NOW)["nodes"]] == ["Store", "Notify"]
    # Thirty days: everything of wf-1, previous window empty.
    nodes = by_name(node_stats(world, days=30, now=NOW))
    assert nodes["Fetch"]["runs"] == 8 and nodes["Fetch"]["previous"] is None and "Ancient" in nodes
    for bad in (0, 31, "7", 7.0, True):
        with pytest.raises(ValueError):
            node_stats(world, days=bad, now=NOW)


def test_one_query(world, django_assert_num_queries):
    with django_assert_num_queries(1):
        node_stats(world, now=NOW)


def test_python_path_agrees_with_postgresql(world):
    """The demo's SQLite path (percentiles in Python) gives the same numbers as percentile_cont."""
    assert connection.vendor == "postgresql"
    start = NOW - timedelta(days=7)
    runs = node_stats_module._node_runs(world, NOW - timedelta(days=14), NOW)
    assert node_stats_module._windows_python(runs, start) == node_stats_module._windows_sql(runs, start)


# --- REST API ------------------------------------------------------------------------------------
def test_api_answers_the_team_and_hides_it_from_others(world, client_for, other_team, make_user, team):
    url = f"/api/v1/workflows/{world.pk}/nodes/"
    viewer = client_for(make_user("viewer", team, "viewer"))
    answer = viewer.get(url).json()
    assert answer["workflow_id"] == "wf-1" and answer["days"] == 7
    assert [n["node_name"] for n in answer["nodes"]] == ["Fetch", "Store", "Notify"]
    assert client_for(ServiceToken.issue(team, "ci")[1]).get(url + "?days=30").json()["days"] == 30
    for outsider in (client_for(ServiceToken.issue(other_team, "ci")[1]), client_for(make_user("o", other_team, "admin"))):
        assert outsider.get(url).status_code == 404
    assert client_for(None).get(url).status_code == 401


@pytest.mark.parametrize("days", ["0", "31", "abc", "7.5", "-1", "１"])
def test_api_bad_days_is_a_400_naming_it(world, api, days):
    r = api.get(f"/api/v1/workflows/{world.pk}/nodes/", {"days": days})
    assert r.status_code == 400 and r["Content-Type"].startswith("application/json")
    assert "days" in r.json()


def test_api_documents_the_operation(api):
    document = api.get("/api/v1/schema/?format=json").json()
    operation = document["paths"]["/api/v1/workflows/{id}/nodes/"]["get"]
    days = next(p for p in operation["parameters"] if p["name"] == "days")
    assert (days["schema"]["minimum"], days["schema"]["maximum"]) == (1, 30)
    assert {"200", "400", "404"} <= set(operation["responses"])


# --- the workflow page -------------------------------------------------------------------------------
def test_workflow_page_shows_the_nodes(world, make_user, team):
    browser = Client()
    browser.force_login(make_user("viewer", team, "viewer"))
    page = browser.get(f"/workflows/{world.pk}/").content.decode()
    section = page[page.index('id="node-stats"'):]
    assert section.index("Fetch") < section.index("Store") < section.index("Notify")
    assert "480 ms" in section and "20 %" in section and "+380 ms" in section and "new" in section
    assert "Foreign" not in page and "1 min 17 s" not in page  # wf-2 and globex: 77,777 ms


def test_workflow_page_without_node_logs(team, make_user):
    wf = make_workflow(team, "quiet")
    browser = Client()
    browser.force_login(make_user("viewer", team, "viewer"))
    assert "No node runs in the last 7 days" in browser.get(f"/workflows/{wf.pk}/").content.decode()
