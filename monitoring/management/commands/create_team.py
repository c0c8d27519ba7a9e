from django.core.management.base import BaseCommand, CommandError
from django.utils.text import slugify

from monitoring.models import Team


class Command(BaseCommand):
    help = "Create a team: manage.py create_team <slug> [--name NAME]"

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="")

    def handle(self, slug, name, **options):
        if slugify(slug) != slug:
            raise CommandError(f"'{slug}' is not a valid slug: use lowercase letters, digits and hyphens.")
        team, created = Team.objects.get_or_create(slug=slug, defaults={"name": name or slug})
        if not created and name and team.name != name:
            team.name = name
            team.save(update_fields=["name"])
        self.stdout.write(f"{'Created' if created else 'Exists'}: team {team.slug} ({team.name})")
