from django.core.management.base import BaseCommand, CommandError

from monitoring.models import ServiceToken, Team


class Command(BaseCommand):
    help = "Issue a service token for a team; the token is printed once, as the last line."

    def add_arguments(self, parser):
        parser.add_argument("--team", required=True)
        parser.add_argument("--name", required=True)

    def handle(self, team, name, **options):
        team_obj = Team.objects.filter(slug=team).first()
        if team_obj is None:
            raise CommandError(f"No team '{team}'.")
        if not name.strip() or len(name) > 100:
            raise CommandError("--name must be 1 to 100 characters.")
        token, raw = ServiceToken.issue(team_obj, name)
        self.stdout.write(f"Token '{token.name}' for team {team_obj.slug}. It is shown only now; store it safely:")
        self.stdout.write(raw)
