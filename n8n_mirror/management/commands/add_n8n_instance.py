"""`manage.py add_n8n_instance <name> --team <slug> (--api-url URL --api-key KEY | --database URL
[--table-prefix P]) [--hook-token]`. Reading n8n's database (a file path or a PostgreSQL URL on the server's
side) is for whoever runs manage.py, i.e. the server's operators: team admins connect n8n through
its API only."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import URLValidator

from monitoring.models import ServiceToken, Team
from n8n_mirror.models import N8nInstance


class Command(BaseCommand):
    help = "Connect a team to an n8n instance, through its API or (operators only) its database."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--team", required=True, help="the team's slug")
        parser.add_argument("--api-url", default="", help="n8n's address, e.g. https://n8n.example.com")
        parser.add_argument("--api-key", default="", help="an n8n API key (Settings > n8n API)")
        parser.add_argument("--database", default="", help="n8n's SQLite file or a postgres:// URL, read-only")
        parser.add_argument("--table-prefix", default="", help="n8n's DB_TABLE_PREFIX")
        parser.add_argument("--interval", type=int, default=30, help="seconds between syncs (default 30)")
        parser.add_argument("--hook-token", action="store_true",
                            help="also issue a service token for n8n's external hook and print it (once)")

    def handle(self, name, team, api_url, api_key, database, table_prefix, interval, hook_token=False, **options):
        team_obj = Team.objects.filter(slug=team).first()
        if team_obj is None:
            raise CommandError(f"No team '{team}'.")
        if not name.strip() or len(name) > 100:
            raise CommandError("The name must be 1 to 100 characters.")
        if N8nInstance.objects.filter(team=team_obj, name=name).exists():
            raise CommandError(f"Team {team} already has an n8n instance named '{name}'.")
        if bool(database) == bool(api_key):
            raise CommandError("Give either --api-url and --api-key, or --database.")
        if api_key and not api_url:
            raise CommandError("--api-key needs --api-url.")
        if api_url:
            try:
                URLValidator(schemes=["http", "https"])(api_url)
            except ValidationError:
                raise CommandError(f"--api-url is not an http(s) URL: {api_url}") from None
        if interval < 5:
            raise CommandError("--interval must be at least 5 seconds.")
        instance = N8nInstance(team=team_obj, name=name, api_url=api_url, table_prefix=table_prefix,
                               interval_seconds=interval,
                               kind=N8nInstance.Kind.DATABASE if database else N8nInstance.Kind.API)
        instance.set_secrets(api_key=api_key, database_url=database)
        instance.save()
        how = "its database" if database else f"its API at {api_url}"
        self.stdout.write(f"n8n instance '{name}' of team {team_obj.slug} is read through {how}, "
                          f"every {interval} s. `manage.py sync_n8n --instance {name}` syncs it now.")
        if hook_token:
            self._print_hook_token(instance)

    def _print_hook_token(self, instance):
        """A service token of the team for n8n's external hook, shown once: only its hash is kept."""
        _, raw = ServiceToken.issue(instance.team, f"n8n hook: {instance.name}"[:100])
        self.stdout.write(f"In n8n's environment (docs/n8n-mirror.md, \"Syncing within seconds\"):\n"
                          f"  FLOWTOWER_URL=<this server>/api/v1/integrations/n8n/{instance.pk}/executions-finished\n"
                          f"  FLOWTOWER_HOOK_TOKEN={raw}\n"
                          "The token is shown only now.")
