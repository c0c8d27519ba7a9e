import logging
import os

from channels.routing import get_default_application
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from monitoring import demo


def write_private(path, text):
    """Write a file only its owner may read (0600), also when it already existed with a wider
    mode: it holds passwords or a token."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with open(fd, "w") as f:
        f.write(text)


class Command(BaseCommand):
    help = ("The demo of `make run`: `demo setup` (team, users, a day of history), `demo feed` (live executions), "
            "`demo serve [addr:port]` (runserver without a console line per request).")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["setup", "feed", "serve"])
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000", help="serve: where to listen")
        parser.add_argument("--pace", type=float, default=1.0, help="feed: scale of the pauses between steps")
        parser.add_argument("--runs", type=int, default=None, help="feed: stop after this many executions")
        parser.add_argument("--url", help="feed: post to this Flowtower's REST API instead of writing directly; "
                                          "setup: the address to print (default http://127.0.0.1:8000)")
        parser.add_argument("--token-file", help="setup: write the demo token here; feed: read it from here")
        parser.add_argument("--credentials-file",
                            help="setup: also write the printed passwords and token here (mode 0600), "
                                 "for `make credentials`")

    def handle(self, action, addrport, pace, runs, url, token_file, credentials_file, **options):
        if action == "serve":
            return self.serve(addrport)
        if action == "setup":
            team, accounts, token = demo.ensure_demo_accounts()
            if token_file:
                write_private(token_file, token)
            created = demo.backfill(team)
            if created:
                self.stdout.write(f"Generated {created} past demo executions.")
            text = demo.credentials_text(url or "http://127.0.0.1:8000", team, accounts, token,
                                         saved_in=credentials_file)
            if credentials_file:
                write_private(credentials_file, text)
            self.stdout.write(text, ending="")
        else:
            team = demo.Team.objects.get(slug=demo.DEMO_TEAM)
            sink = None
            if url:
                if not token_file:
                    raise CommandError("--url needs --token-file (written by `demo setup --token-file`).")
                sink = demo.HttpSink(url, open(token_file).read().strip())
            # A line per execution only when asked (-v 2): `make run` keeps the console for the
            # credentials it printed.
            out = self.stdout.write if options["verbosity"] >= 2 else None
            demo.feed_forever(team, pace=pace, stop_after=runs, out=out, sink=sink)

    def serve(self, addrport):
        """runserver (Daphne's, with websockets and the autoreloader), keeping the console for the
        credentials `demo setup` printed: Django's loggers — the access log ("django.channels.server")
        and "Not Found" / "Unauthorized" lines among them — and Flowtower's access log show only
        errors, once. Flowtower's own warnings (LOG_LEVEL) and runserver's start-up lines stay."""
        # Loading the ASGI application sets Django up again, logging included: load it first.
        get_default_application()
        django_logger = logging.getLogger("django")
        django_logger.setLevel(logging.ERROR)
        # In DEBUG, Django's default console handler already prints these; the root handler
        # would print each a second time.
        django_logger.propagate = False
        # Flowtower's own access log (one line per request; 4xx at WARNING for production's log
        # dashboards) likewise shows only server errors here.
        logging.getLogger("flowtower.access").setLevel(logging.ERROR)
        call_command("runserver", addrport)
