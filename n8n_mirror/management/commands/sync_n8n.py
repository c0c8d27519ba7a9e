"""`manage.py sync_n8n [--instance NAME] [--team SLUG] [--full]`: sync n8n instances now (all
enabled ones by default), with a progress bar. --full reads every execution again (a backfill
or a repair); it adds nothing that is already there."""

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from n8n_mirror.models import N8nInstance
from n8n_mirror.sync import sync_instance


class Command(BaseCommand):
    help = "Sync n8n instances into Flowtower now."

    def add_arguments(self, parser):
        parser.add_argument("--instance", default="", help="only the instance with this name")
        parser.add_argument("--team", default="", help="only instances of this team (slug)")
        parser.add_argument("--full", action="store_true", help="read every execution again, from the first")

    def handle(self, instance, team, full, **options):
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
            else:
                self.stdout.write(f"{n8n}: {result.workflows} workflows, {result.executions} executions read; "
                                  f"{n8n.executions_mirrored} mirrored in all")
        if failed:
            raise CommandError(f"{failed} instance(s) could not be synced.")
