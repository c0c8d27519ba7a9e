from django.core.management.base import BaseCommand, CommandError

from alerts.evaluation_windows import evaluate_window_rules


class Command(BaseCommand):
    help = ("Run one pass of the window alert rules (error rate, p95, stuck, no executions) now, as the "
            "beat task does every minute, and fire event rules whose \"for\" duration has passed.")

    def handle(self, **options):
        summary = evaluate_window_rules()
        if "skipped" in summary:
            raise CommandError(f"Skipped: {summary['skipped']}.")
        self.stdout.write(
            f"{summary['rules']} window rules evaluated in {summary['seconds']:.3f} s: "
            f"{summary['holding']} conditions holding, {summary['pending']} pending, "
            f"{summary['raised']} alerts raised, {summary['repeated']} repeated, {summary['resolved']} resolved, "
            f"{summary['promoted']} event conditions fired after their \"for\" duration"
            + (f", {summary['errors']} errors (see the log)" if summary["errors"] else "") + "."
        )
