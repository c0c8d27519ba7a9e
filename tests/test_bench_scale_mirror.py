"""The n8n mirror's benchmark data and measurement on a tiny scale: the scaled copy of the real
n8n's database holds exactly the executions asked for, each one a real execution's row and data
under a new id, is kept between runs, and mirrors completely; the alert bench makes its 30,000
rules. No timings are asserted: speed targets belong to the scale suite."""

import sqlite3
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from monitoring.models import Execution, PerformanceMetric
from n8n_mirror.readers.database import DatabaseReader
from n8n_truth import SQLITE

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import bench_scale_mirror  # noqa: E402
import n8n_scaled_fixture  # noqa: E402

SOURCE_EXECUTIONS = 30


def _by_id(path):
    return {e.id: e for e in DatabaseReader(path).list_executions(limit=10**6)}


def test_the_scaled_fixture_holds_real_executions_under_new_ids(tmp_path):
    path, seconds = n8n_scaled_fixture.scaled_fixture(75, folder=tmp_path)
    assert seconds > 0
    source, scaled = _by_id(SQLITE), _by_id(path)
    assert sorted(map(int, scaled)) == list(range(1, 76))
    for execution_id, execution in scaled.items():
        copy, original_id = divmod(int(execution_id) - 1, SOURCE_EXECUTIONS)
        original = source[str(original_id + 1)]
        # The run data n8n wrote, the workflow, status and mode as they were …
        assert (execution.workflow_id, execution.status, execution.mode) == \
            (original.workflow_id, original.status, original.mode)
        assert execution.run_data == original.run_data and execution.error == original.error
        assert execution.data_available
        # … the times moved back by 13 minutes per copy.
        moved = timedelta(seconds=copy * n8n_scaled_fixture.SPACING_SECONDS)
        assert original.started_at - execution.started_at == moved


def test_the_scaled_fixture_is_kept_until_its_source_or_size_changes(tmp_path):
    path, _ = n8n_scaled_fixture.scaled_fixture(40, folder=tmp_path)
    assert n8n_scaled_fixture.scaled_fixture(40, folder=tmp_path) == (path, 0.0)
    bigger, seconds = n8n_scaled_fixture.scaled_fixture(50, folder=tmp_path)
    assert bigger != path and seconds > 0
    with sqlite3.connect(bigger) as db:
        assert db.execute("SELECT count(*) FROM execution_data").fetchone() == (50,)


@pytest.mark.django_db(transaction=True)
def test_the_mirror_benchmark_mirrors_every_execution_of_the_fixture(tmp_path):
    path, _ = n8n_scaled_fixture.scaled_fixture(90, folder=tmp_path)
    figures = bench_scale_mirror.measure(path, 90, runs=1, rewrite=True, batch_size=40, progress=lambda line: None)
    assert len(figures["first"]) == len(figures["rewrite"]) == 1
    assert Execution.objects.count() == 90
    # Every finished run has its performance record (3 of the 90 wait for approval).
    assert PerformanceMetric.objects.count() == 87
    rows = bench_scale_mirror.result_rows(figures, 90)
    assert [row[0] for row in rows] == ["n8n mirror, database reader, 90 executions",
                                        "n8n mirror, --full again (rewrite)"]


@pytest.mark.django_db(transaction=True)
def test_the_alert_benchmark_makes_three_rules_per_workflow_and_evaluates_them():
    from django.utils import timezone

    import bench_scale_alerts
    from alerts.models import AlertRule
    from monitoring.models import Alert, Workflow

    now = timezone.now()
    teams = bench_scale_alerts.generate(now)
    assert Workflow.objects.filter(team__in=teams).count() == bench_scale_alerts.WORKFLOWS
    # (Beside each team's default "Error regressions" rule.)
    assert AlertRule.objects.filter(team__in=teams).exclude(kind="regression").count() == 3 * bench_scale_alerts.WORKFLOWS
    first, later = bench_scale_alerts.measure_passes(now, passes=1, progress=lambda line: None)
    # The conditions built in hold: flaky, slow, silent and hung workflows alert, and stay firing
    # (a few on the edge of their window may clear a second later).
    assert first["raised"] > 0
    assert Alert.objects.filter(team__in=teams, resolved=False).count() > first["raised"] * 0.9
    rows = bench_scale_alerts.result_rows(first, later)
    assert [row[0] for row in rows] == ["alert evaluation, 10,000 workflows × 3 rules",
                                        f"  first pass, raising {first['raised']} alerts"]
