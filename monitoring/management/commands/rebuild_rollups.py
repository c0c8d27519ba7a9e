"""`manage.py rebuild_rollups [--since YYYY-MM-DD] [--until YYYY-MM-DD]`: compute the rollups of
executions and errors again from the raw rows, one UTC day per transaction (monitoring.rollups).

Needed only when rows were written with the triggers off (a restore with triggers disabled, rows
loaded with session_replication_role = replica, as the bench dataset is); PostgreSQL's triggers
keep the rollups exact otherwise. Days before the oldest retention cut-off are never recomputed:
their raw rows may be gone while their rollups stay.
"""

from datetime import datetime, timezone

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from monitoring import rollups


def _day(value):
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        raise CommandError(f"'{value}' is not a date (YYYY-MM-DD)")


class Command(BaseCommand):
    help = "Rebuild the execution and error rollups from the raw rows, day by day."

    def add_arguments(self, parser):
        parser.add_argument("--since", type=_day, help="First UTC day (default: the oldest one retention keeps)")
        parser.add_argument("--until", type=_day, help="Day after the last (default: tomorrow)")

    def handle(self, *args, **opts):
        if not rollups.available():
            raise CommandError("Rollups are kept on PostgreSQL only; other databases read the raw rows.")
        since = max(opts["since"], rollups.oldest_rebuildable()) if opts["since"] else None
        days = rollups.rebuild(since, opts["until"], progress=self._progress if opts["verbosity"] > 1 else None)
        self.stdout.write(f"rollups rebuilt: {days} day(s) on {connection.settings_dict['NAME']}")

    def _progress(self, lo, hi):
        self.stdout.write(f"  {lo:%Y-%m-%d}")
