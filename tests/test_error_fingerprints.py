"""What makes two errors one error group: the fingerprint of the workflow, node, error type,
error code and the message with its variable parts left out, or the client's own fingerprint.
Checked on the errors a real n8n recorded (tests/fixtures/n8n, a real n8n 1.123.81 database, mapped as the mirror maps them) and
on the shapes of variable parts: numbers, ids, UUIDs, quoted values, emails, URLs, times, tokens."""

from collections import defaultdict

import pytest

from monitoring.fingerprints import error_fingerprint, group_title, normalise_message
from n8n_mirror import mapping
from n8n_mirror.readers.database import DatabaseReader

from tests.n8n_truth import SQLITE


def _fingerprint(error, workflow_pk=1):
    return error_fingerprint(workflow_pk, error.get("node_name", ""), error.get("error_type", ""),
                             error.get("error_code", ""), error["error_message"], error.get("fingerprint"))


@pytest.fixture(scope="module")
def n8n_errors():
    """The errors of the real n8n's executions, as the mirror sends them."""
    reader = DatabaseReader(SQLITE)
    workflows = {w.id: w for w in reader.list_workflows()}
    return [error for e in reader.list_executions(limit=1000)
            for error in mapping.map_execution_records(e, workflows[e.workflow_id])["errors"]]


def test_a_real_n8ns_failures_are_one_group_per_failing_node(n8n_errors):
    groups = defaultdict(list)
    for error in n8n_errors:
        groups[(error["workflow_id"], _fingerprint(error))].append(error)
    by_title = {group_title(errors[0]["error_message"]): len(errors) for errors in groups.values()}
    assert by_title == {
        "The service was not able to process your request": 3,
        "The service refused the connection - perhaps it is offline": 2,
        "Authorization failed - please check your credentials": 2,
        "Invalid payload: missing customer_id [line 3]": 3,
    }


@pytest.mark.parametrize("message, normalised", [
    ("Invalid payload: missing customer_id [line 3]", "Invalid payload: missing customer_id [line <num>]"),
    ("connect ECONNREFUSED 127.0.0.1:5699", "connect ECONNREFUSED <ip>:<num>"),
    ("The service refused the connection - perhaps it is offline",
     "The service refused the connection - perhaps it is offline"),
    ("Request failed with status code 401", "Request failed with status code <num>"),
    ("Order 4711 has 3 items, total 99.95", "Order <num> has <num> items, total <num>"),
    ("Customer 550e8400-e29b-41d4-a716-446655440000 not found", "Customer <uuid> not found"),
    ("Document 507f1f77bcf86cd799439011 missing at 0x7ffd", "Document <hex> missing at <hex>"),
    ("Column 'email' of \"users\" rejected `x`", "Column <str> of <str> rejected <str>"),
    ("Can't send to 'bob' today", "Can't send to <str> today"),
    ("No account for jane.doe+test@example.co.uk", "No account for <email>"),
    ("GET https://api.example.com/v2/orders/17?page=2&token=abc#top failed",
     "GET https://api.example.com/v2/orders/<num>?<query> failed"),
    ("Rate limited until 2026-11-26T07:12:59.123Z (retry 10:30)", "Rate limited until <time> (retry <time>)"),
    ("Invalid key sk_live_51HxYzAbCdEf1234567890", "Invalid key <token>"),
    ("  spaced\n\tout  ", "spaced out"),
])
def test_variable_parts_are_left_out(message, normalised):
    assert normalise_message(message) == normalised


@pytest.mark.parametrize("one, other", [
    ("connect ECONNREFUSED 127.0.0.1:5699", "connect ECONNREFUSED 10.0.0.7:443"),
    ("Order 1 failed for user 'a@b.c' at 2026-01-01T00:00:00Z",
     "Order 22 failed for user 'x@y.z' at 2026-02-03T04:05:06Z"),
    ("Webhook https://h.example/p?x=1 returned 500", "Webhook https://h.example/p?y=2 returned 502"),
])
def test_same_error_with_other_values_is_one_group(one, other):
    def fingerprint(message):
        return error_fingerprint(1, "HTTP Request", "network", "", message)

    assert fingerprint(one) == fingerprint(other)


def test_what_tells_groups_apart():
    base = error_fingerprint(1, "HTTP Request", "network", "ECONNREFUSED", "refused")
    assert len(base) == 64 and int(base, 16) >= 0
    assert base != error_fingerprint(2, "HTTP Request", "network", "ECONNREFUSED", "refused")  # workflow
    assert base != error_fingerprint(1, "Call CRM", "network", "ECONNREFUSED", "refused")  # node
    assert base != error_fingerprint(1, "HTTP Request", "timeout", "ECONNREFUSED", "refused")  # type
    assert base != error_fingerprint(1, "HTTP Request", "network", "401", "refused")  # code
    assert base != error_fingerprint(1, "HTTP Request", "network", "ECONNREFUSED", "reset")  # words
    # A URL's host and path stay: another service is another error.
    assert (error_fingerprint(1, "", "", "", "GET https://a.example/x failed")
            != error_fingerprint(1, "", "", "", "GET https://b.example/x failed"))


def test_the_clients_fingerprint_wins_within_one_workflow():
    mine = error_fingerprint(1, "A", "network", "", "one message", client_fingerprint="crm-timeout")
    assert mine == error_fingerprint(1, "B", "data", "E9", "another message", client_fingerprint="crm-timeout")
    assert mine != error_fingerprint(2, "A", "network", "", "one message", client_fingerprint="crm-timeout")
    assert mine != error_fingerprint(1, "A", "network", "", "one message")


def test_title_is_the_first_line_within_255():
    assert group_title("\n  Invalid payload: missing customer_id [line 3]\n    at Code node") == (
        "Invalid payload: missing customer_id [line 3]")
    assert len(group_title("x" * 400)) == 255
    assert group_title("") == "(no message)"
