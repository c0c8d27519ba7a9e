"""python manage.py mcp_server: the MCP server over stdio, for one team (FLOWTOWER_TOKEN)."""

import os

from django.core.management.base import BaseCommand, CommandError

from monitoring.mcp.server import TokenRefused, build_server, token_from


class Command(BaseCommand):
    help = ("Run the Model Context Protocol server over stdio: read-only tools over the data of the team "
            "whose service token is in FLOWTOWER_TOKEN. stdout carries only the protocol; logs go to stderr.")
    # System checks would only delay the client's first answer; the web server runs them.
    requires_system_checks = []

    def handle(self, *args, **options):
        try:
            token = token_from(os.environ.get("FLOWTOWER_TOKEN", "").strip())
        except TokenRefused as refused:
            # CommandError: the message on stderr, exit status 1, before a byte goes to stdout.
            raise CommandError(str(refused))
        build_server(token).run("stdio")
