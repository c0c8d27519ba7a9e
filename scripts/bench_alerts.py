"""`make bench`: the window alert rule pass over 10,000 workflows with 3 rules each (30,000 rules:
error rate, p95 duration, and a dead-man or stuck rule), against a throwaway PostgreSQL database
holding a day of executions and a stretch of logs. Prints the pass time (target: under 2 s); then
the anomaly kind's over 14 days of hourly rollups, cold (baselines computed) and warm (cached).

Run through manage.py shell so settings load: see the Makefile's bench target. The data and the
passes are scripts/bench_scale_alerts.py's (the scale suite's row runs the same on a database of
its own)."""

import statistics
import sys
import time

from django.utils import timezone

sys.path.insert(0, "scripts")  # manage.py shell runs from the repository's root
from bench_scale_alerts import (  # noqa: E402
    PASSES,
    generate,
    measure_passes,
    measure_with_anomaly,
    queue_tasks_in_memory,
)

from alerts.models import AlertRule  # noqa: E402
from monitoring.models import Alert, Execution, ExecutionLog, Workflow  # noqa: E402

queue_tasks_in_memory()
now = timezone.now()
setup_started = time.perf_counter()
teams = generate(now)
print(f"alert rule pass: {Workflow.objects.filter(team__in=teams).count():,} workflows, "
      f"{AlertRule.objects.filter(team__in=teams).count():,} rules, "
      f"{Execution.objects.filter(workflow__team__in=teams).count():,} executions, "
      f"{ExecutionLog.objects.count():,} logs stored (set up in {time.perf_counter() - setup_started:.0f} s)")
first, later = measure_passes(now, PASSES)
steady = [seconds * 1000 for seconds in later]
print(f"pass (median of {PASSES})    {statistics.median(steady):7.0f} ms  (min {min(steady):.0f}, "
      f"max {max(steady):.0f}; target < 2000 ms)")
print(f"({Alert.objects.filter(team__in=teams, resolved=False).count():,} open rule alerts)")
for name, figure, target, met in measure_with_anomaly(now, PASSES):
    print(f"{name} | {figure} | {target} | {'yes' if met else 'NO'}")
