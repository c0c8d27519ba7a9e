from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from monitoring import retention


class Command(BaseCommand):
    help = "Delete monitoring data past its retention (FLOWTOWER_RETENTION_*_DAYS), in chunks."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be deleted.")
        parser.add_argument("--days", type=int, help="One retention for every type, instead of the settings.")

    def handle(self, dry_run, days, **options):
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1.")
        bars = []

        def progress(name, total):
            bar = tqdm(total=total, desc=name, unit="rows", file=self.stderr._out, disable=total == 0)
            bars.append(bar)
            return bar.update

        run = retention.prune(
            retention.retention_days(days), dry_run=dry_run, trigger="command", progress=progress
        )
        for bar in bars:
            bar.close()
        verb = "would delete" if dry_run else "deleted"
        for name, count in run.deleted.items():
            self.stdout.write(f"{name}: {verb} {count} (older than {run.retention_days[name]} days)")
