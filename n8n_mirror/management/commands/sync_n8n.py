"""`manage.py sync_n8n [--instance NAME] [--team SLUG] [--full] [--every SECONDS]`: sync n8n
instances now (all enabled ones by default), with a progress bar. --full reads every execution
again (a backfill or a repair); it adds nothing that is already there. --every keeps syncing, one
pass every SECONDS until stopped (Ctrl-C or SIGTERM), for a server without Celery beat such as
`make run` without Redis: a pass that fails is printed and the next one runs all the same. -v0
prints only failures."""

import signal
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections
from tqdm import tqdm

from n8n_mirror.models import N8nInstance
from n8n_mirror.sync import sync_instance


class Stop(BaseException):
    """SIGTERM asks a looping sync_n8n to stop, like Ctrl-C does (a BaseException, so that the
    loop's own `except Exception` cannot swallow it)."""


def _stop(signum, frame):
    raise Stop()


class Command(BaseCommand):
    help = "Sync n8n instances into Flowtower now (or, with --every, again and again)."

    def add_arguments(self, parser):
        parser.add_argument("--instance", default="", help="only the instance with this name")
        parser.add_argument("--team", default="", help="only instances of this team (slug)")
        parser.add_argument("--full", action="store_true", help="read every execution again, from the first")
        parser.add_argument("--every", type=float, default=None,
                            help="keep syncing: one pass every SECONDS (at least 1), until stopped")

    def handle(self, instance, team, full, every=None, **options):
        self.quiet = options.get("verbosity", 1) == 0  # -v0: only what went wrong (make run's console)
        if every is None:
            self.sync_pass(instance, team, full)
            return
        if every < 1:
            raise CommandError("--every must be at least 1 second.")
        self.loop(instance, team, full, every)

    def loop(self, instance, team, full, every):
        """One pass now, then one every `every` seconds; --full applies to the first pass only
        (a backfill once, then new executions)."""
        # Both set explicitly: a process started in the background by a non-interactive shell
        # inherits SIGINT ignored, and Python then leaves it ignored (no KeyboardInterrupt).
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        try:
            while True:
                started = time.monotonic()
                close_old_connections()  # a database restart between passes must not end the loop
                try:
                    self.sync_pass(instance, team, full)
                except CommandError as exc:
                    self.stdout.write(f"sync pass failed: {exc}")
                except Exception as exc:  # noqa: BLE001 - keep syncing; the next pass may work
                    self.stdout.write(f"sync pass failed: {type(exc).__name__}: {exc}")
                full = False
                self.stdout.flush()
                time.sleep(max(0.0, every - (time.monotonic() - started)))
        except (KeyboardInterrupt, Stop):
            self.stdout.write("sync_n8n stopped.")

    def sync_pass(self, instance, team, full):
        instances = N8nInstance.objects.select_related("team")
        if instance:
            instances = instances.filter(name=instance)
        else:
            instances = instances.filter(enabled=True)
        if team:
            instances = instances.filter(team__slug=team)
        if not instances:
            raise CommandError(f"No n8n instance named '{instance}'." if instance else "No enabled n8n instance.")
        failed = 0
        for n8n in instances:
            with tqdm(desc=str(n8n), unit=" executions", file=self.stderr, disable=None) as bar:
                result = sync_instance(n8n, full=full, progress=bar.update)
            if result.error:
                failed += 1
                self.stdout.write(f"{n8n}: {result.error}")
            elif not self.quiet:
                self.stdout.write(f"{n8n}: {result.workflows} workflows, {result.executions} executions read; "
                                  f"{n8n.executions_mirrored} mirrored in all")
        if failed:
            raise CommandError(f"{failed} instance(s) could not be synced.")
