import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from monitoring import retention


class Command(BaseCommand):
    help = ("Delete monitoring data past its retention (FLOWTOWER_RETENTION_*_DAYS): whole expired log partitions "
            "dropped (archived first when FLOWTOWER_ARCHIVE_DIR is set), the rest in chunks.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be deleted.")
        parser.add_argument("--days", type=int, help="One retention for every type, instead of the settings.")

    def handle(self, dry_run, days, **options):
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1.")
        bars = []
        started = {}  # type -> when its deletion started: each type's seconds are printed at the end

        def progress(name, total):
            started[name] = time.monotonic()
            if bars:
                bars[-1].close()
            bar = tqdm(total=total, desc=name, unit="rows", file=self.stderr._out, disable=total == 0)
            bars.append(bar)
            return bar.update

        run = retention.prune(
            retention.retention_days(days), dry_run=dry_run, trigger="command", progress=progress
        )
        started["end"] = time.monotonic()
        for bar in bars:
            bar.close()
        verb = "would delete" if dry_run else "deleted"
        marks = list(started.values())
        seconds = dict(zip(started, (b - a for a, b in zip(marks, marks[1:]))))
        for name, count in run.deleted.items():
            took = f" in {seconds[name]:.1f} s" if name in seconds else ""
            self.stdout.write(f"{name}: {verb} {count} (older than {run.retention_days[name]} days){took}")
