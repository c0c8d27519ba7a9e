"""n8n 2.x runs Code nodes in a task runner and repeats the node's error in resultData.error
without naming the node (seen with a real n8n 2.40.7). The mirror must still show one error, on
the failing node, not a second one on no node."""

from datetime import UTC, datetime

from n8n_mirror.mapping import map_errors
from n8n_mirror.readers.base import N8nExecution

MESSAGE = "Invalid payload: missing customer_id [line 3]"
CODE_ERROR = {"level": "info", "description": None, "name": "WrappedExecutionError", "lineNumber": 3,
              "message": MESSAGE, "stack": f"WrappedExecutionError: {MESSAGE}\n    at throwExecutionError (…)"}


def _execution(result_error):
    return N8nExecution(
        id="5", workflow_id="w1", status="error", mode="webhook", finished=False, data_available=True,
        started_at=datetime(2026, 11, 26, 1, 0, tzinfo=UTC), stopped_at=datetime(2026, 11, 26, 1, 0, 1, tzinfo=UTC),
        run_data={"Webhook": [{"startTime": 1, "executionTime": 1, "executionStatus": "success", "data": {}}],
                  "Validate customer": [{"startTime": 2, "executionTime": 30, "executionStatus": "error",
                                         "error": CODE_ERROR}]},
        error=result_error, last_node_executed="Validate customer",
    )


def test_the_repeated_code_node_error_without_a_node_is_one_error_on_the_node():
    records = map_errors(_execution(dict(CODE_ERROR)))
    assert [(r["node_name"], r["error_message"], r["error_type"]) for r in records] == [
        ("Validate customer", MESSAGE, "unknown")]


def test_a_different_workflow_level_error_is_still_kept():
    other = {"name": "WorkflowOperationError", "message": "Workflow did not finish, possible out-of-memory issue"}
    records = map_errors(_execution(other))
    assert [r["node_name"] for r in records] == ["Validate customer", ""]
    assert records[1]["error_message"] == other["message"]
