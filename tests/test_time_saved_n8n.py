"""The n8n mirror takes a workflow's time saved setting (settings.timeSavedPerExecution, minutes)
from n8n's public API and from its database, and keeps the estimate a team set in Flowtower when
n8n has none. The n8n answers are the real n8n 1.123.81's, with the setting added here."""

import json
import shutil
import sqlite3
from decimal import Decimal

import pytest

from monitoring import time_saved
from monitoring.models import Workflow
from n8n_mirror import sync
from n8n_mirror.mapping import workflow_minutes_saved
from n8n_mirror.models import N8nInstance
from n8n_mirror.readers.api import ApiReader
from n8n_mirror.readers.database import DatabaseReader
from tests.n8n_truth import FIXTURES, SQLITE

# Order sync: a fixed estimate; Nightly report: Time Saved nodes (dynamic), no fixed estimate.
SETTINGS = {"Order sync": {"timeSavedPerExecution": 7.5},
            "Nightly report": {"timeSavedMode": "dynamic", "timeSavedPerExecution": 30}}


@pytest.mark.parametrize("settings, minutes", [
    ({"timeSavedPerExecution": 7.5}, Decimal("7.50")), ({"timeSavedPerExecution": 3}, Decimal("3.00")),
    ({"timeSavedPerExecution": 1.005}, Decimal("1.01")), ({"timeSavedPerExecution": "12"}, Decimal("12.00")),
    ({"timeSavedPerExecution": 99999}, Decimal("10080")),
    ({"timeSavedMode": "fixed", "timeSavedPerExecution": 5}, Decimal("5.00")),
    ({"timeSavedMode": "dynamic", "timeSavedPerExecution": 5}, None), ({"timeSavedPerExecution": 0}, None),
    ({"timeSavedPerExecution": -4}, None), ({"timeSavedPerExecution": True}, None),
    ({"timeSavedPerExecution": "soon"}, None), ({"timeSavedPerExecution": "NaN"}, None),
    ({"timeSavedPerExecution": None}, None), ({}, None), (None, None)])
def test_the_setting_read_from_n8ns_settings(settings, minutes):
    assert workflow_minutes_saved(settings) == minutes


class Answer:
    def __init__(self, body):
        self.status_code, self.body = 200, body

    def json(self):
        return self.body


def api_reader(settings):
    """An API reader answering the recorded workflows, each with `settings` added by name."""
    body = json.loads((FIXTURES / "api-1.123.81" / "workflows.json").read_text())
    for item in body["data"]:
        item["settings"] = {**(item.get("settings") or {}), **settings.get(item["name"], {})}
    return ApiReader("http://n8n.test", "key", get=lambda url, **kw: Answer(body))


def database_reader(tmp_path, settings):
    """A copy of the recorded n8n database, each workflow with `settings` added by name."""
    copy = tmp_path / "n8n.sqlite"
    shutil.copy(SQLITE, copy)
    with sqlite3.connect(copy) as db:
        for name, extra in settings.items():
            stored = json.loads(db.execute("SELECT settings FROM workflow_entity WHERE name = ?", [name]).fetchone()[0])
            db.execute("UPDATE workflow_entity SET settings = ? WHERE name = ?",
                       [json.dumps({**stored, **extra}), name])
    return DatabaseReader(copy)


def estimates(instance):
    return dict(Workflow.objects.filter(team=instance.team, source=instance.source)
                .values_list("name", "minutes_saved_per_run"))


@pytest.fixture
def instance(team):
    return N8nInstance.objects.create(team=team, name="n8n", kind=N8nInstance.Kind.API, api_url="http://n8n.test")


@pytest.mark.parametrize("reader", ["api", "database"])
def test_both_readers_bring_the_setting(instance, tmp_path, reader):
    read = api_reader(SETTINGS) if reader == "api" else database_reader(tmp_path, SETTINGS)
    sync.sync_workflows(instance, read.list_workflows())
    found = estimates(instance)
    assert found["Order sync"] == Decimal("7.50")
    assert found["Nightly report"] is None  # dynamic: counted by n8n's nodes, not a fixed estimate
    assert found["Customer import"] is None and len(found) == 8


def test_a_team_estimate_stays_when_n8n_has_none_and_n8n_wins_when_it_has_one(instance):
    sync.sync_workflows(instance, api_reader({}).list_workflows())
    mine = Workflow.objects.get(team=instance.team, name="Customer import")
    theirs = Workflow.objects.get(team=instance.team, name="Order sync")
    time_saved.set_estimate(mine, Decimal("4"))
    time_saved.set_estimate(theirs, Decimal("1"))
    sync.sync_workflows(instance, api_reader(SETTINGS).list_workflows())
    found = estimates(instance)
    assert found["Customer import"] == Decimal("4.00") and found["Order sync"] == Decimal("7.50")
    # n8n's setting removed later: the last value stays (n8n no longer says anything about it).
    sync.sync_workflows(instance, api_reader({}).list_workflows())
    assert estimates(instance)["Order sync"] == Decimal("7.50")


def test_a_new_setting_in_n8n_reaches_an_existing_workflow(instance):
    sync.sync_workflows(instance, api_reader({}).list_workflows())
    assert estimates(instance)["Order sync"] is None
    sync.sync_workflows(instance, api_reader({"Order sync": {"timeSavedPerExecution": 2}}).list_workflows())
    assert estimates(instance)["Order sync"] == Decimal("2.00")
