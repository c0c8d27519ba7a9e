"""The batch ingest's fast path keeps the answers of the plain one: the fast validator accepts only
what the serializer accepts and gives the same data (and errors stay the serializer's); logs
written by COPY are the rows the INSERT wrote, masked; a bad item anywhere writes nothing; a retry
never duplicates; live events built lazily carry the REST shape."""

import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitoring import bulk_write, events, ingest, masking
from monitoring.fast_validation import FastValidator
from monitoring.models import Execution, ExecutionLog, IdempotencyKey, Workflow
from monitoring.schemas import KINDS, validate_records
from monitoring.serializers import serialize, serialize_many

URL = "/api/workflows/monitoring?type=batch"


def log(i=0, **kw):
    return {"workflow_id": "wf-fast", "execution_id": "e-1", "log_level": "info", "message": f"step {i} done",
            "node_id": "n3", "node_name": "HTTP Request", "step_number": i % 10, "duration": 120 + i,
            "metadata": {"items": i, "password": "hunter2"}, **kw}


# --- the fast validator against the serializer ------------------------------------------------

def _serializer(kind, items):
    batch = KINDS[kind][0](data=items, many=True)
    return list(batch.validated_data) if batch.is_valid() else None


# Values of every JSON type, plain and awkward: numbers as text, blanks, NUL, surrogates, bools,
# out-of-range and huge numbers, nested metadata, timestamps good and bad.
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["", " ", "info", "error", "warn", "debug", "critical", "network", "high", "medium", "12", "1.0",
                     "1.5", "x\x00y", "\ud800", "2026-01-01T10:00:00Z", "2026-01-01", "not a date",
                     "2999-01-01T00:00:00Z", "rule:x", "a" * 256, "performance", "warning", "unknown"]),
)
_json = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                     max_leaves=8)


def _items(kind):
    names = sorted(KINDS[kind][0]().fields)
    plain = {"log": log(), "error": {"workflow_id": "w", "execution_id": "e", "error_message": "boom"},
             "performance": {"workflow_id": "w", "execution_id": "e", "total_duration": 5},
             "alert": {"workflow_id": "w", "alert_type": "performance", "severity": "warning", "title": "t"}}[kind]
    # Start from a valid item and change, drop or add a few fields.
    changes = st.dictionaries(st.sampled_from([*names, "unknown_field"]), _json, max_size=3)
    dropped = st.sets(st.sampled_from(names), max_size=2)
    return st.builds(lambda c, d: {**{k: v for k, v in plain.items() if k not in d}, **c}, changes, dropped)


@pytest.mark.parametrize("kind", list(KINDS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_fast_validator_accepts_only_what_the_serializer_accepts_and_gives_the_same_data(kind, data):
    items = data.draw(st.lists(_items(kind), min_size=1, max_size=3))
    fast = FastValidator(KINDS[kind][0]).validate(items)
    if fast is not None:
        assert fast == _serializer(kind, items)
    # And whatever the path, validate_records answers as the serializer does.
    valid, errors = validate_records(kind, items)
    expected = _serializer(kind, items)
    if expected is None:
        assert not valid and errors
    else:
        assert valid == expected and not errors


def test_plain_batches_take_the_fast_path():
    items = [log(i) for i in range(50)]
    assert FastValidator(KINDS["log"][0]).validate(items) == _serializer("log", items)


def test_errors_are_the_serializers_whatever_the_path():
    items = [log(0), log(1, step_number="x"), log(2, message="")]
    valid, errors = validate_records("log", items)
    assert valid == []
    assert errors == {"1": {"step_number": ["A valid integer is required."]},
                      "2": {"message": ["This field may not be blank."]}}


# --- the HTTP batch path ----------------------------------------------------------------------

def test_a_bad_item_in_the_middle_of_a_batch_writes_nothing_and_is_named(api):
    batch = [log(i) for i in range(1000)]
    batch[537] = log(537, log_level="loud")
    response = api.post(URL, {"logs": batch}, format="json")
    assert response.status_code == 400
    details = response.json()["details"]
    assert list(details) == ["logs"] and list(details["logs"]) == ["537"]
    assert "log_level" in details["logs"]["537"]
    assert ExecutionLog.objects.count() == 0 and Workflow.objects.count() == 0 and Execution.objects.count() == 0


def test_a_batch_is_stored_masked_and_in_full(api):
    batch = [log(i, message=f"call {i} with Authorization: Bearer abcdefgh{i:04d}") for i in range(300)]
    response = api.post(URL, {"logs": batch}, format="json")
    assert response.status_code == 201, response.content
    ids = response.json()["data"]["ids"]["logs"]
    stored = {str(r.pk): r for r in ExecutionLog.objects.all()}
    assert sorted(stored) == sorted(ids) and len(ids) == 300
    first = stored[ids[0]]
    assert first.message == "call 0 with Authorization: ********"
    assert first.metadata == {"items": 0, "password": "********"}
    assert (first.node_id, first.node_name, first.step_number, first.duration) == ("n3", "HTTP Request", 0, 120)
    execution = Execution.objects.get()
    assert (execution.state, execution.current_step) == ("running", "HTTP Request")


def test_a_retried_batch_writes_once(api):
    body = {"logs": [log(i) for i in range(200)]}
    first = api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="batch-1")
    again = api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="batch-1")
    assert first.status_code == 201 and again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert ExecutionLog.objects.count() == 200 and IdempotencyKey.objects.count() == 1


# --- COPY against INSERT ----------------------------------------------------------------------

def _built_logs(team, items):
    """Log instances as ingest builds them, unsaved."""
    records, now = {"log": validate_records("log", items)[0]}, timezone.now()
    workflows = ingest.ensure_workflows(team, "api", records)
    executions = ingest._ensure_executions(workflows, records, now)
    make = bulk_write.instance_maker(ExecutionLog)
    return [ingest._build_log(r, ingest._common(r, workflows, executions, now), make) for r in records["log"]]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_copy_writes_exactly_the_rows_the_insert_writes(team):
    items = [log(i, timestamp=f"2026-01-0{1 + i % 3}T10:00:0{i % 10}.123456+02:00", node_id="" if i % 2 else "n",
                 step_number=None if i % 3 else i, metadata={"nested": {"token": "t", "list": [1, "Bearer abcdefghij"]},
                                                         "unicode": "żółw ☃", "n": None})
             for i in range(40)]
    copied = bulk_write.copy_rows(ExecutionLog, _built_logs(team, items))
    inserted = ExecutionLog.objects.bulk_create(_built_logs(team, items))
    columns = [f.attname for f in ExecutionLog._meta.concrete_fields if f.attname != "id"]

    def rows(objs):
        found = {r["id"]: r for r in ExecutionLog.objects.filter(pk__in=[o.pk for o in objs]).values("id", *columns)}
        return [tuple(found[o.pk][c] for c in columns) for o in objs]

    assert rows(copied) == rows(inserted) and len(rows(copied)) == 40
    # The instances returned are saved ones, as bulk_create's.
    assert all(not o._state.adding and o._state.db == "default" for o in copied)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY is PostgreSQL's")
def test_a_failing_copy_writes_nothing(team):
    # A row PostgreSQL refuses in the middle of the COPY: Django's IntegrityError, as from the
    # INSERT, and none of the rows before it stays.
    objs = _built_logs(team, [log(i) for i in range(5)])
    objs[2].message = None

    with pytest.raises(IntegrityError):
        with transaction.atomic():
            bulk_write.copy_rows(ExecutionLog, objs)
    assert ExecutionLog.objects.count() == 0


def test_the_instances_built_are_the_keyword_constructors(team):
    built = _built_logs(team, [log(3, timestamp="2026-01-01T10:00:00Z")])[0]
    workflow, execution = built.workflow, built.execution
    expected = ExecutionLog(id=built.id, workflow=workflow, execution=execution, log_level="info",
                            message="step 3 done", timestamp=built.timestamp, node_id="n3", node_name="HTTP Request",
                            step_number=3, duration=123, metadata={"items": 3, "password": "********"})
    attnames = [f.attname for f in ExecutionLog._meta.concrete_fields]
    assert [getattr(built, a) for a in attnames] == [getattr(expected, a) for a in attnames]
    assert built._state.adding and built.workflow is workflow and built.execution is execution


# --- lazy live events -------------------------------------------------------------------------

@pytest.fixture
def committed():
    seen = []

    def receiver(sender, events, **kwargs):
        seen.extend(events)

    events.monitoring_events_committed.connect(receiver)
    yield seen
    events.monitoring_events_committed.disconnect(receiver)


def test_record_events_carry_the_rest_shape(team, committed, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest.ingest(team, {"log": validate_records("log", [log(i) for i in range(30)])[0]})
    logs = [e for e in committed if e.type == "log"]
    assert [e.data for e in logs] == serialize_many("log", result.created["log"])
    assert all(isinstance(e, events.MonitoringEvent) and e.data["id"] for e in logs)
    assert {e.workflow_pk for e in logs} == {result.created["log"][0].workflow_id}


def test_the_representer_gives_the_serializers_shape_for_every_kind(team):
    now = timezone.now()
    result = ingest.ingest(team, {
        "log": validate_records("log", [log(1), log(2, execution_id="e-2", metadata={})])[0],
        "error": validate_records("error", [{"workflow_id": "wf-fast", "execution_id": "e-2", "error_message": "x",
                                             "timestamp": now.isoformat()}])[0],
        "performance": validate_records("performance", [{"workflow_id": "wf-fast", "execution_id": "e-1",
                                                         "total_duration": 5, "cpu_peak": 1.5}])[0],
        "alert": validate_records("alert", [{"workflow_id": "wf-fast", "alert_type": "performance",
                                             "severity": "warning", "title": "slow"},
                                            {"workflow_id": "wf-fast", "execution_id": "e-1", "alert_type": "error",
                                             "severity": "critical", "title": "down", "fingerprint": "f-1"}])[0],
    })
    error = result.created["error"][0]
    error.resolved, error.resolved_at, error.resolution_notes = True, now, "fixed"
    objects = {**result.created, "execution": list(result.executions.values())}
    for kind, objs in objects.items():
        represent = ingest.representer(kind)
        assert [represent(o) for o in objs] == [serialize(kind, o) for o in objs], kind


def test_a_lazy_event_builds_its_data_once_when_read():
    calls = []
    event = events.LazyMonitoringEvent("log", "created", 1, 2, lambda source: calls.append(source) or {"id": source},
                                       "x")
    assert calls == []
    assert event.data == {"id": "x"} and event.data is event.data and calls == ["x"]
    assert event == events.LazyMonitoringEvent("log", "created", 1, 2, lambda source: {"id": source}, "x")


# --- masking -----------------------------------------------------------------------------------

def _mask_text_rule_by_rule(text):
    for pattern, replace in masking._TEXT_RULES:
        text = pattern.sub(replace, text)
    return text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=10), st.sampled_from(
    ["password=", "Passwd: ", "api-key=", "APIKEY:", "Bearer ", "basic ", "Authorization: ", "cookie=", "ft_",
     "eyJ", "eyJa.b.c", "secret", "token", "credential", "private_key=", "abcdefghijk", "\"", "'", " ", ",", "\n"])),
    max_size=8).map("".join))
def test_masking_text_answers_as_applying_every_rule(text):
    assert masking.mask_text(text) == _mask_text_rule_by_rule(text)


def test_a_changed_mask_key_setting_is_followed():
    assert masking.mask_data({"customer_ref": "c-1"}) == {"customer_ref": "c-1"}
    with override_settings(FLOWTOWER_MASK_KEYS=["customer-ref"]):
        assert masking.mask_data({"customer_ref": "c-1", "password": "x"}) == {"customer_ref": "********",
                                                                               "password": "x"}
    assert masking.mask_data({"customer_ref": "c-1"}) == {"customer_ref": "c-1"}


def test_uuid_ids_are_fresh_per_row(team):
    built = _built_logs(team, [log(i) for i in range(100)])
    assert len({o.pk for o in built}) == 100 and all(isinstance(o.pk, uuid.UUID) for o in built)
