"""n8n's external hook tells Flowtower an execution ended: Flowtower mirrors that execution at
once (not at the next poll), only for the instance's own hook token (another token of the team
is a 403 saying which token it takes, another team's instance a 404); bad input is a 400
naming the field; the poll, still the safety net, then reads the rest without writing the hooked
execution again; the hook file itself, run under Node, posts what the endpoint takes."""

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from celery import current_app
from django.conf import settings
from django.core.management import call_command

from monitoring import dispatch, events
from monitoring.models import Execution, ServiceToken, WorkflowError
from n8n_mirror import sync
from n8n_mirror.hook_tokens import new_hook_token
from n8n_mirror.models import N8nInstance

from tests.n8n_truth import SQLITE

HOOK_FILE = Path(__file__).resolve().parent.parent / "n8n_mirror" / "hooks" / "flowtower-hooks.js"
NODE = shutil.which("node")


def url(instance_id):
    return f"/api/v1/integrations/n8n/{instance_id}/executions-finished"


@pytest.fixture
def n8n_file(tmp_path):
    copy = tmp_path / "n8n.sqlite"
    shutil.copy(SQLITE, copy)
    return copy


@pytest.fixture
def instance(team, n8n_file):
    """An instance whose poll has read up to execution 20 of the 30 n8n holds."""
    instance = N8nInstance(team=team, name="n8n-db", kind=N8nInstance.Kind.DATABASE, cursor="20")
    instance.set_secrets(database_url=str(n8n_file))
    instance.save()
    return instance


@pytest.fixture
def api(client_for, instance):
    """A client posting with the instance's own hook token, as n8n's hook does."""
    return client_for(new_hook_token(instance))


def _mirrored(instance):
    return dict(Execution.objects.filter(workflow__source=instance.source).values_list("external_id", "state"))


@pytest.mark.django_db(transaction=True)
def test_a_finished_execution_beyond_the_cursor_is_mirrored_at_once(api, instance):
    answer = api.post(url(instance.pk), {"executionId": "24", "workflowId": "wTqJ5qDbAoEtZmyG"}, format="json")
    assert answer.status_code == 202, answer.content
    assert answer.json() == {"instance": instance.pk, "executionId": "24", "status": "queued"}
    assert _mirrored(instance) == {"24": "error"}
    error = WorkflowError.objects.get(execution__external_id="24", workflow__source=instance.source)
    assert error.workflow.name == "Customer import"
    instance.refresh_from_db()
    assert (instance.cursor, instance.last_run_at) == ("20", None)  # the poll's place and rhythm are its own


@pytest.mark.django_db(transaction=True)
def test_the_poll_then_reads_the_rest_without_writing_the_hooked_execution_again(api, instance, monkeypatch):
    assert api.post(url(instance.pk), {"executionId": 24}, format="json").status_code == 202
    assert api.post(url(instance.pk), {"executionId": "24"}, format="json").status_code == 202  # n8n retried
    published = []
    original = events.publish
    monkeypatch.setattr(events, "publish", lambda batch: (published.extend(batch), original(batch)))
    result = sync.sync_instance(instance)
    assert result.ok and result.executions == 10
    assert set(_mirrored(instance)) == {str(i) for i in range(21, 31)}
    assert WorkflowError.objects.filter(execution__external_id="24", workflow__source=instance.source).count() == 1
    written = {e.data.get("execution_id") for e in published if e.type == "execution"}
    assert "24" not in written and "25" in written
    instance.refresh_from_db()
    assert instance.cursor == "30"


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_unreachable_the_sync_runs_in_the_request(api, instance):
    conf = current_app.conf
    saved = conf.broker_url, conf.task_always_eager
    conf.broker_url, conf.task_always_eager = "redis://127.0.0.1:1/0", False
    current_app._pool = None
    current_app.amqp._producer_pool = None
    dispatch.reset()
    try:
        answer = api.post(url(instance.pk), {"executionId": "21"}, format="json")
    finally:
        dispatch.reset()  # the next tests publish (eagerly) again at once
        conf.broker_url, conf.task_always_eager = saved
        if current_app._pool is not None:
            current_app._pool.force_close_all()
        current_app._pool = None
        current_app.amqp._producer_pool = None
    assert answer.status_code == 202
    assert _mirrored(instance) == {"21": "error"}


@pytest.mark.django_db
def test_another_token_of_the_team_is_a_403_saying_which_token_it_takes(client_for, instance, team):
    new_hook_token(instance)
    answer = client_for(ServiceToken.issue(team, "ci")[1]).post(url(instance.pk), {"executionId": "24"},
                                                                 format="json")
    assert answer.status_code == 403 and answer["Content-Type"] == "application/json"
    detail = answer.json()["detail"]
    assert "instance's own hook token" in detail and "--hook-token" in detail and "n8n page" in detail
    sibling = N8nInstance.objects.create(team=team, name="other n8n", api_url="https://n8n.example.com")
    siblings_hook = client_for(new_hook_token(sibling))  # the hook token of another instance of the team
    assert siblings_hook.post(url(instance.pk), {"executionId": "24"}, format="json").status_code == 403
    assert Execution.objects.count() == 0


@pytest.mark.django_db
def test_a_replaced_or_revoked_hook_token_is_refused(client_for, instance):
    first = new_hook_token(instance)
    second = new_hook_token(instance)
    old_token = ServiceToken.objects.get(name="n8n hook: n8n-db", revoked_at__isnull=False)
    assert client_for(first).post(url(instance.pk), {"executionId": "24"}, format="json").status_code == 401
    instance.refresh_from_db()
    assert instance.hook_token.is_active and instance.hook_token != old_token
    ServiceToken.objects.filter(pk=instance.hook_token_id).update(revoked_at=old_token.revoked_at)  # as in admin
    assert client_for(second).post(url(instance.pk), {"executionId": "24"}, format="json").status_code == 401
    assert Execution.objects.count() == 0


@pytest.mark.django_db
def test_another_teams_instance_is_a_404_whatever_the_token(client_for, instance, other_team, make_user, team):
    body = {"executionId": "24"}
    theirs = N8nInstance.objects.create(team=other_team, name="theirs", api_url="https://n8n.example.com")
    their_hook = new_hook_token(theirs)
    assert client_for(their_hook).post(url(instance.pk), body, format="json").status_code == 404
    assert client_for(ServiceToken.issue(other_team, "ci")[1]).post(url(instance.pk), body,
                                                                    format="json").status_code == 404
    own = client_for(new_hook_token(instance))
    assert own.post(url(theirs.pk), body, format="json").status_code == 404
    assert own.post(url(instance.pk + 1000), body, format="json").status_code == 404
    assert client_for(None).post(url(instance.pk), body, format="json").status_code == 401
    assert client_for("ft_not-a-token").post(url(instance.pk), body, format="json").status_code == 401
    person = make_user("ann", team=team, role="admin")
    signed_in = client_for(person).post(url(instance.pk), body, format="json")
    assert signed_in.status_code == 403 and "hook token" in signed_in.json()["detail"]
    assert Execution.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("body, field", [
    ({}, "executionId"),
    ({"executionId": ""}, "executionId"),
    ({"executionId": "12; DROP"}, "executionId"),
    ({"executionId": True}, "executionId"),
    ({"executionId": "1", "workflowId": "x" * 256}, "workflowId"),
])
def test_bad_input_is_a_400_naming_the_field(api, instance, body, field):
    answer = api.post(url(instance.pk), body, format="json")
    assert answer.status_code == 400 and answer["Content-Type"] == "application/json"
    assert field in answer.json()
    assert Execution.objects.count() == 0


@pytest.mark.django_db
def test_add_n8n_instance_prints_a_hook_token_once_that_the_endpoint_takes(team, n8n_file, client_for, capsys):
    call_command("add_n8n_instance", "main", "--team", team.slug, "--database", str(n8n_file), "--hook-token")
    out = capsys.readouterr().out
    instance = N8nInstance.objects.get(team=team, name="main")
    raw = next(line.split("=", 1)[1] for line in out.splitlines() if "FLOWTOWER_HOOK_TOKEN=" in line)
    assert f"FLOWTOWER_URL={settings.FLOWTOWER_BASE_URL}/api/v1/integrations/n8n/{instance.pk}/executions-finished" in out
    assert "EXTERNAL_HOOK_FILES=" in out
    assert instance.hook_token.name == "n8n hook: main" and raw.startswith(instance.hook_token.prefix)
    assert not ServiceToken.objects.filter(token_hash=raw).exists()  # only its hash is stored
    answer = client_for(raw).post(url(instance.pk), {"executionId": "1"}, format="json")
    assert answer.status_code == 202


def _run_hook(env, execution_id="24", workflow=None):
    script = textwrap.dedent(f"""
        const hooks = require({json.dumps(str(HOOK_FILE))});
        hooks.workflow.postExecute[0]({{}}, {json.dumps(workflow or {"id": "wTqJ5qDbAoEtZmyG"})}, {json.dumps(execution_id)})
          .then(() => console.log('returned'));
    """)
    return subprocess.run([NODE, "-e", script], env={"PATH": "/usr/bin:/bin", **env}, capture_output=True,
                          text=True, timeout=20)


@pytest.mark.skipif(NODE is None, reason="node is not installed: the hook file runs inside n8n (Node)")
def test_the_hook_file_posts_the_execution_with_the_token(httpserver):
    httpserver.expect_request("/api/v1/integrations/n8n/7/executions-finished", method="POST").respond_with_json(
        {"status": "queued"}, status=202)
    done = _run_hook({"FLOWTOWER_URL": httpserver.url_for("/api/v1/integrations/n8n/7/executions-finished"),
                      "FLOWTOWER_HOOK_TOKEN": "ft_secret"})
    assert done.returncode == 0 and "returned" in done.stdout, done.stderr
    (request, _), = httpserver.log
    assert request.headers["Authorization"] == "Bearer ft_secret"
    assert request.headers["Content-Type"] == "application/json"
    assert request.get_json() == {"executionId": "24", "workflowId": "wTqJ5qDbAoEtZmyG"}


@pytest.mark.skipif(NODE is None, reason="node is not installed: the hook file runs inside n8n (Node)")
def test_the_hook_file_never_throws_into_n8n(httpserver):
    httpserver.expect_request("/down", method="POST").respond_with_data("no", status=500)
    failing = _run_hook({"FLOWTOWER_URL": httpserver.url_for("/down"), "FLOWTOWER_HOOK_TOKEN": "ft_x"})
    unreachable = _run_hook({"FLOWTOWER_URL": "http://127.0.0.1:1/hook", "FLOWTOWER_HOOK_TOKEN": "ft_x"})
    unset = _run_hook({})
    for done in (failing, unreachable, unset):
        assert done.returncode == 0 and "returned" in done.stdout, done.stderr
    assert "500" in failing.stderr and "could not reach" in unreachable.stderr


def test_the_hook_file_is_valid_javascript():
    if NODE is None:
        pytest.skip("node is not installed")
    assert subprocess.run([NODE, "--check", str(HOOK_FILE)], capture_output=True).returncode == 0
