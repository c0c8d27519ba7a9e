"""`manage.py load_archive FILE [FILE ...]`: load execution-log archives back for analysis."""

from pathlib import Path

import psycopg
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection

from monitoring import partitions


class Command(BaseCommand):
    help = ("Load execution-log archives (the .csv.gz files retention writes to FLOWTOWER_ARCHIVE_DIR) back into "
            "the log table, each file all or nothing. Rows older than the logs' retention are pruned again by the "
            "next retention run: raise FLOWTOWER_RETENTION_LOGS_DAYS meanwhile, or load into another database.")

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path)

    def handle(self, files, **options):
        if connection.vendor != "postgresql":
            raise CommandError("Archives are PostgreSQL's (COPY); this database is " + connection.vendor + ".")
        for path in files:
            if not path.is_file():
                raise CommandError(f"{path}: no such file.")
            try:
                rows = partitions.load_archive(path)
            except (DatabaseError, psycopg.Error) as e:  # COPY's errors come from psycopg unwrapped
                raise CommandError(f"{path}: nothing loaded: {str(e).strip().splitlines()[0]}") from e
            self.stdout.write(f"{path}: loaded {rows} logs")
