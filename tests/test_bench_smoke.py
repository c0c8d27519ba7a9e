"""The benchmark suite on a tiny dataset: the generator makes exactly the rows asked for and keeps
them between runs; the suite measures every benchmark over HTTP against a real Daphne process and
prints every row of its table. No timings are asserted: speed targets belong to `make bench-scale`."""

import os
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from daphne_server import DaphneServer, database_url
from monitoring.management.commands.bench_dataset import Command as BenchDataset
from monitoring.models import Team

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import bench_suite  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)

TINY = {"teams": 2, "workflows": 5, "executions": 40, "logs": 203, "errors": 7, "alerts": 3, "days": 30}


def generate(**changes):
    out = StringIO()
    call_command("bench_dataset", *[f"--{k}={v}" for k, v in {**TINY, **changes}.items()], stdout=out)
    return out.getvalue()


def test_the_generator_makes_the_rows_asked_for_and_reuses_them():
    assert "generated" in generate()
    expected = {k: v for k, v in TINY.items() if k != "days"}
    assert BenchDataset.counts() == expected

    assert "reused" in generate()
    assert BenchDataset.counts() == expected

    # Other parameters: generated again, to the new counts.
    assert "generated" in generate(logs=77)
    assert BenchDataset.counts()["logs"] == 77


def test_a_changed_dataset_is_generated_again():
    generate()
    connection.cursor().execute("DELETE FROM monitoring_alert")
    assert "generated" in generate()
    assert BenchDataset.counts()["alerts"] == TINY["alerts"]


def test_the_generator_leaves_a_database_with_other_teams_alone():
    Team.objects.create(slug="acme", name="Acme")
    with pytest.raises(CommandError, match="acme"):
        generate()
    assert Team.objects.filter(slug="acme").exists()


def test_the_suite_prints_every_row_of_its_table(capsys, tmp_path):
    generate()
    cookie, token, workflow = bench_suite.credentials()
    url = database_url(connection.settings_dict)
    env = bench_suite.server_env(url, os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), tmp_path,
                                 settings.SECRET_KEY)
    bench_suite.collect_static(env)
    with DaphneServer(env=env) as server:
        rows = bench_suite.run_suite([server.url], cookie, token, workflow, url, runs=1, requests_per_run=2,
                                     warmup=0, ingest_batches=1, progress=lambda line: None)
    print(bench_suite.format_table(rows))
    table = capsys.readouterr().out
    names = [name for name, _ in bench_suite.read_benchmarks(*workflow)]
    names += ["/api/v1/logs/ cursor pages", "batch ingest, REST batch endpoint", "same rows by psycopg COPY",
              "batch ingest / COPY (same run)"]
    for name in names:
        assert name in table
    assert len(rows) == len(names)
    assert all(met in (True, False) for _, _, target, met in rows if target)
    # The ingest runs' rows are gone again: the kept dataset still matches.
    assert "reused" in generate()
