"""README rules of what a posted record does: records never reopen a finished execution ("How
records move an execution"), alert titles are masked like every other text ("Masking"), and a
timestamp may be at most an hour in the future ("The monitoring endpoint")."""

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring import events
from monitoring.ingest import ingest
from monitoring.masking import MASK
from monitoring.models import Alert, Execution, ExecutionLog
from monitoring.schemas import validate_records

URL = "/api/workflows/monitoring"
BASE = {"workflow_id": "wf-1", "execution_id": "e1"}
FINISHED = ["success", "error", "canceled", "crashed"]


def post_records(team, kind, *items):
    valid, errors = validate_records(kind, [{**BASE, **item} for item in items])
    assert not errors, errors
    return ingest(team, {kind: valid})


def finished_execution(team, state):
    """An execution that finished 10 s after it started."""
    post_records(team, "log", {"log_level": "info", "message": "start",
                               "timestamp": (timezone.now() - timedelta(minutes=1)).isoformat()})
    execution = Execution.objects.get()
    stopped = execution.started_at + timedelta(seconds=10)
    Execution.objects.filter(pk=execution.pk).update(state=state, stopped_at=stopped, duration_ms=10_000)
    return Execution.objects.get()


# --- records never reopen a finished execution --------------------------------------------------------


@pytest.mark.parametrize("state", FINISHED)
def test_a_log_never_reopens_a_finished_execution(team, state):
    before = finished_execution(team, state)
    post_records(team, "log", {"log_level": "info", "message": "late log", "node_name": "Cleanup", "step_number": 7})
    after = Execution.objects.get()
    assert after.state == state
    assert (after.stopped_at, after.duration_ms) == (before.stopped_at, before.duration_ms)


@pytest.mark.parametrize("state", FINISHED)
def test_an_error_never_changes_a_finished_execution(team, state):
    before = finished_execution(team, state)
    post_records(team, "error", {"error_message": "late error"})
    after = Execution.objects.get()
    assert (after.state, after.stopped_at, after.duration_ms) == (state, before.stopped_at, before.duration_ms)


@pytest.mark.parametrize("state", FINISHED)
@pytest.mark.parametrize("failed_nodes", [0, 1])
def test_a_performance_record_never_changes_a_finished_state(team, state, failed_nodes):
    finished_execution(team, state)
    post_records(team, "performance", {"total_duration": 12_000, "failed_nodes": failed_nodes})
    after = Execution.objects.get()
    assert after.state == state
    assert after.duration_ms == 12_000  # the measured duration is still taken


def test_an_error_stops_a_running_execution_at_the_errors_time(team):
    start = timezone.now() - timedelta(minutes=1)
    post_records(team, "log", {"log_level": "info", "message": "start", "timestamp": start.isoformat()})
    failed_at = start + timedelta(seconds=12)
    post_records(team, "error", {"error_message": "boom", "timestamp": failed_at.isoformat()})
    execution = Execution.objects.get()
    assert (execution.state, execution.stopped_at, execution.duration_ms) == ("error", failed_at, 12_000)


def test_the_current_step_follows_the_logs_node_and_step(team):
    post_records(team, "log", {"log_level": "info", "message": "a", "node_name": "Fetch", "step_number": 1})
    post_records(team, "log", {"log_level": "info", "message": "b", "node_name": "Transform"})  # no step number
    execution = Execution.objects.get()
    assert (execution.current_step, execution.step_number) == ("Transform", 1)
    post_records(team, "log", {"log_level": "info", "message": "c", "step_number": 3})  # no node name
    execution = Execution.objects.get()
    assert (execution.current_step, execution.step_number) == ("Transform", 3)
    post_records(team, "log", {"log_level": "info", "message": "d"})  # neither: nothing moves
    execution = Execution.objects.get()
    assert (execution.current_step, execution.step_number) == ("Transform", 3)


@pytest.mark.parametrize("state", ["new", "queued", "waiting"])
def test_a_log_starts_an_execution_that_has_not_finished(team, state):
    finished_execution(team, "success")
    Execution.objects.update(state=state, stopped_at=None)
    post_records(team, "log", {"log_level": "info", "message": "go"})
    assert Execution.objects.get().state == "running"


# --- what live pages are told ("Live updates over websockets") ---------------------------------------------


@pytest.fixture
def published(django_capture_on_commit_callbacks):
    """published(fn) runs fn and returns the events sent after its commit, as
    (type, action, team id, workflow pk, record id)."""
    seen = []

    def receiver(sender, event, **kwargs):
        seen.append(event)

    def run(fn):
        seen.clear()
        with django_capture_on_commit_callbacks(execute=True):
            fn()
        return [(e.type, e.action, e.team_id, e.workflow_pk, str(e.data.get("id"))) for e in seen]

    events.monitoring_event.connect(receiver)
    yield run
    events.monitoring_event.disconnect(receiver)


def test_events_say_created_then_updated(team, published):
    def first():
        post_records(team, "log", {"log_level": "info", "message": "a", "node_name": "Fetch"})

    got = published(first)
    execution, log = Execution.objects.get(), ExecutionLog.objects.get()
    wf = execution.workflow_id
    assert sorted(got) == sorted([("execution", "created", team.pk, wf, str(execution.pk)),
                                  ("log", "created", team.pk, wf, str(log.pk))])

    def second():
        post_records(team, "error", {"error_message": "boom"})

    got = published(second)
    assert ("execution", "updated", team.pk, wf, str(execution.pk)) in got
    assert [e[:4] for e in got if e[0] == "error"] == [("error", "created", team.pk, wf)]


def test_a_record_that_changes_nothing_sends_no_execution_event(team, published):
    finished_execution(team, "success")
    got = published(lambda: post_records(team, "alert", {"alert_type": "error", "severity": "info", "title": "t"}))
    assert [e[:2] for e in got] == [("alert", "created")]


# --- masking of alert titles ---------------------------------------------------------------------------


@pytest.mark.parametrize("title, secret", [
    ("Login failed with password=hunter2", "hunter2"),
    ("Upstream refused Bearer abcdef1234567890", "abcdef1234567890"),
    ("Leaked ft_abcdefghijklmnopqrstuvwxyz012345", "ft_abcdefghijklmnopqrstuvwxyz012345"),
])
def test_alert_titles_are_masked_before_storage(team, api, title, secret):
    post_records(team, "alert", {"alert_type": "error", "severity": "critical", "title": title})
    # Another workflow: the same alert of the same workflow would count the first (deduplication).
    r = api.post(f"{URL}?type=alert", {"workflow_id": "wf-2", "alert_type": "error", "severity": "critical",
                                       "title": title}, format="json")
    assert r.status_code == 201, r.content
    assert secret not in r.content.decode()
    titles = list(Alert.objects.values_list("title", flat=True))
    assert len(titles) == 2
    for stored in titles:
        assert secret not in stored and MASK in stored


def test_a_masked_title_still_fits_its_column(team):
    title = "x" * 245 + " token=a"  # 253 characters; masked it would be 260
    post_records(team, "alert", {"alert_type": "error", "severity": "warning", "title": title})
    stored = Alert.objects.get().title
    assert len(stored) == 255 and "token=a" not in stored


# --- at most an hour in the future ---------------------------------------------------------------------


def post_log_at(api, when):
    return api.post(f"{URL}?type=log", {**BASE, "log_level": "info", "message": "m", "timestamp": when.isoformat()},
                    format="json")


def test_a_timestamp_just_under_an_hour_ahead_is_accepted(api):
    r = post_log_at(api, timezone.now() + timedelta(minutes=59, seconds=30))
    assert r.status_code == 201, r.content
    assert ExecutionLog.objects.count() == 1


@pytest.mark.parametrize("path", [f"{URL}?type=log", "/api/v1/logs/"])
def test_a_timestamp_just_over_an_hour_ahead_is_rejected(api, path):
    when = timezone.now() + timedelta(hours=1, seconds=30)
    r = api.post(path, {**BASE, "log_level": "info", "message": "m", "timestamp": when.isoformat()}, format="json")
    assert r.status_code == 400
    assert "timestamp" in r.content.decode() and "future" in r.content.decode()
    assert not ExecutionLog.objects.exists() and not Execution.objects.exists()


def test_past_timestamps_have_no_such_limit(api):
    assert post_log_at(api, timezone.now() - timedelta(days=3650)).status_code == 201
