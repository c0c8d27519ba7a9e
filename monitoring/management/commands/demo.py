import os

from django.core.management.base import BaseCommand, CommandError

from monitoring import demo


class Command(BaseCommand):
    help = "Demo data for `make run`: `demo setup` (team, users, a day of history), `demo feed` (live executions)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["setup", "feed"])
        parser.add_argument("--pace", type=float, default=1.0, help="feed: scale of the pauses between steps")
        parser.add_argument("--runs", type=int, default=None, help="feed: stop after this many executions")
        parser.add_argument("--url", help="feed: post to this Flowtower's REST API instead of writing directly")
        parser.add_argument("--token-file", help="setup: write the demo token here; feed: read it from here")

    def handle(self, action, pace, runs, url, token_file, **options):
        if action == "setup":
            team, accounts, token = demo.ensure_demo_accounts()
            if token_file:
                with open(os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                    f.write(token)
            created = demo.backfill(team)
            line = "=" * 72
            self.stdout.write(line)
            self.stdout.write("Flowtower demo at http://127.0.0.1:8000/  (admin: /admin/, API docs: /api/v1/docs/)")
            for username, password, what in accounts:
                self.stdout.write(f"  {what:<20} username: {username:<8} password: {password}")
            self.stdout.write(f"  service token for team '{team.slug}': {token}")
            self.stdout.write(
                '  try: curl -H "Authorization: Bearer <token>" '
                '"http://127.0.0.1:8000/api/workflows/monitoring?type=dashboard"'
            )
            if created:
                self.stdout.write(f"  generated {created} past executions")
            self.stdout.write(line)
        else:
            team = demo.Team.objects.get(slug=demo.DEMO_TEAM)
            sink = None
            if url:
                if not token_file:
                    raise CommandError("--url needs --token-file (written by `demo setup --token-file`).")
                sink = demo.HttpSink(url, open(token_file).read().strip())
            demo.feed_forever(team, pace=pace, stop_after=runs, out=self.stdout.write, sink=sink)
