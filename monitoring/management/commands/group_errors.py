"""`manage.py group_errors`: file the stored errors that have no error group yet under their
groups, as ingestion does for new errors (monitoring.ingest_errors.group_stored_errors). Migration
0012 runs it once; run it again after loading errors from an archive or a backup taken before
error groups existed. Safe to repeat: errors already filed are left alone."""

from django.core.management.base import BaseCommand

from monitoring.ingest_errors import BACKFILL_CHUNK, group_stored_errors


class Command(BaseCommand):
    help = "File stored errors without an error group under their groups."

    def add_arguments(self, parser):
        parser.add_argument("--chunk", type=int, default=BACKFILL_CHUNK, help="Errors per transaction")

    def handle(self, *args, **opts):
        count = group_stored_errors(chunk=max(1, opts["chunk"]))
        self.stdout.write(f"errors filed under their groups: {count}")
