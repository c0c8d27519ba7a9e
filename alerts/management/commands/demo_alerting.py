"""Alerting for the demo of `make run`: a "log" channel, a route for every severity and a few
rules for the demo team, so a failing demo workflow raises an alert that resolves when the
workflow succeeds again. Idempotent: what exists (perhaps changed by someone) is kept.

`--every SECONDS` then keeps running the every-minute passes (window rules, notification pass)
in the foreground: `make run` without Redis has no Celery beat to run them."""

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from alerts.evaluation_windows import evaluate_window_rules
from alerts.models import AlertRule, Channel, Route
from alerts.notify import notification_pass
from alerts.rules import registry
from monitoring.demo import DEMO_TEAM
from monitoring.models import Team, Workflow

CHANNEL = "Demo log"
ROUTE = "Everything to the demo log"
# The demo feed's "Invoice fetch" (wf-003) starts with a Schedule node: expected every few minutes.
SCHEDULED_WORKFLOW = "wf-003"

RULES = [
    # name, kind, params, severity, scoped to the scheduled workflow
    ("Execution failed", "execution_failed", {}, "warning", False),
    ("Error rate above 50% (15 min)", "error_rate",
     {"threshold_percent": 50, "window_minutes": 15, "min_executions": 5}, "warning", False),
    ("Execution stuck for 10 min", "stuck", {"after_minutes": 10}, "warning", False),
    ("Invoice fetch stopped running", "no_executions", {"every_minutes": 10, "grace_minutes": 5}, "critical", True),
    # Compared with its own two weeks of history at this hour; the live demo's Invoice fetch is
    # several times slower than that, so this fires a few minutes after `make run` starts.
    ("Invoice fetch slower than usual", "anomaly", {"metric": "duration", "min_executions": 3}, "warning", True),
]


def ensure_demo_alerting(team):
    """Create what is missing; returns the names of what was created."""
    created = []
    channel, made = Channel.objects.get_or_create(team=team, name=CHANNEL, defaults={"kind": "log"})
    created += [f"channel “{CHANNEL}”"] if made else []
    _, made = Route.objects.get_or_create(team=team, name=ROUTE, defaults={
        "channel": channel, "repeat_interval_minutes": 60, "escalate_after_minutes": 30})
    created += [f"route “{ROUTE}”"] if made else []
    scheduled = Workflow.objects.filter(team=team, external_id=SCHEDULED_WORKFLOW).first()
    for name, kind, params, severity, scoped in RULES:
        if scoped and scheduled is None:
            continue  # the demo history was not generated: nothing to watch
        if AlertRule.objects.filter(team=team, name=name).exists():
            continue
        rule = AlertRule(team=team, name=name, kind=kind, params=params, severity=severity,
                         workflow=scheduled if scoped else None)
        registry.validate_rule(rule)
        rule.save()
        created.append(f"rule “{name}”")
    return created


def run_passes(every, out):
    """The beat's every-minute work, for a demo without Celery beat."""
    while True:
        time.sleep(every)
        try:
            evaluate_window_rules()
            notification_pass()
        except Exception as exc:  # keep the demo going; the next pass may work
            out(f"demo alerting pass failed: {exc!r}")


class Command(BaseCommand):
    help = ("Set up alerting for the demo team (a log channel, a route, rules for failures, error rate, stuck "
            "executions and a silent scheduled workflow). Idempotent. With --every, keep running the "
            "window-rule and notification passes (for a demo without Celery beat).")

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=None,
                            help="then run the every-minute passes every SECONDS, until stopped")

    def handle(self, every, **options):
        team = Team.objects.filter(slug=DEMO_TEAM).first()
        if team is None:
            raise CommandError("No demo team yet: run `manage.py demo setup` first.")
        with transaction.atomic():
            created = ensure_demo_alerting(team)
        if created and options["verbosity"] >= 1:
            self.stdout.write(f"Demo alerting: created {', '.join(created)}; notifications go to the server log.")
        if every:
            run_passes(every, self.stderr.write)
