"""`manage.py add_n8n_instance <name> --team <slug> (--api-url URL --api-key KEY | --database URL
[--table-prefix P]) [--hook-token]`; `… <name> --team <slug> --hook-token` alone on an existing
instance replaces its hook token (the old one is revoked). --update makes it idempotent: an
instance of that name is changed to what is given (what it mirrored, its cursor and its enabled
flag are kept) instead of refused, so a script such as `make run` can run it every time. Reading
n8n's database (a file path or a PostgreSQL URL on the server's side) is for whoever runs
manage.py, i.e. the server's operators: team admins connect n8n through its API only."""

import shlex

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import URLValidator

from monitoring.models import Team
from n8n_mirror.hook_tokens import hook_environment, new_hook_token
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
        parser.add_argument("--interval", type=int, default=None, help="seconds between syncs (default 30)")
        parser.add_argument("--hook-token", action="store_true",
                            help="also make the instance's token for n8n's external hook and print it (once); "
                                 "alone, for an existing instance, replace its hook token")
        parser.add_argument("--update", action="store_true",
                            help="if the team has an instance of that name, change it to these settings")

    def handle(self, name, team, api_url, api_key, database, table_prefix, interval, hook_token=False,
               update=False, **options):
        team_obj = Team.objects.filter(slug=team).first()
        if team_obj is None:
            raise CommandError(f"No team '{team}'.")
        if not name.strip() or len(name) > 100:
            raise CommandError("The name must be 1 to 100 characters.")
        existing = N8nInstance.objects.filter(team=team_obj, name=name).first()
        if existing is not None and hook_token and interval is None \
                and not any((api_url, api_key, database, table_prefix)):
            self._print_hook_token(existing)  # a new hook token only (e.g. the old one leaked)
            return
        if existing is not None and not update:
            raise CommandError(f"Team {team} already has an n8n instance named '{name}' (--update changes it).")
        if interval is None:
            interval = existing.interval_seconds if existing is not None else 30
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
        # An update keeps the cursor, the status and the enabled flag: the mirror goes on from there.
        instance = existing or N8nInstance(team=team_obj, name=name)
        instance.api_url, instance.table_prefix, instance.interval_seconds = api_url, table_prefix, interval
        instance.kind = N8nInstance.Kind.DATABASE if database else N8nInstance.Kind.API
        instance.set_secrets(api_key=api_key, database_url=database)
        instance.save()
        how = "its database" if database else f"its API at {api_url}"
        self.stdout.write(f"n8n instance '{name}' of team {team_obj.slug} {'(updated) ' if existing else ''}"
                          f"is read through {how}, every {interval} s. "
                          f"`manage.py sync_n8n --instance {shlex.quote(name)}` syncs it now.")
        if not instance.enabled:
            self.stdout.write("It is disabled: enable it on the n8n page or in admin to have it synced.")
        if hook_token:
            self._print_hook_token(instance)

    def _print_hook_token(self, instance):
        """The instance's hook token (the only one its hook endpoint takes), shown once: only its
        hash is kept."""
        raw = new_hook_token(instance)
        lines = "".join(f"  {line}\n" for line in hook_environment(instance, raw))
        self.stdout.write(f"In n8n's environment (docs/n8n-mirror.md, \"Syncing within seconds\"):\n{lines}"
                          "EXTERNAL_HOOK_FILES is where n8n finds a copy of n8n_mirror/hooks/flowtower-hooks.js. "
                          "The token is shown only now.")
