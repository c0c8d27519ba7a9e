import getpass
import os

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from monitoring.models import Membership, Role, Team


class Command(BaseCommand):
    help = (
        "Add a user to a team with a role, creating the user if missing (password from "
        "FLOWTOWER_PASSWORD or a prompt): manage.py add_member <team-slug> <username> --role viewer|member|admin"
    )

    def add_arguments(self, parser):
        parser.add_argument("team")
        parser.add_argument("username")
        parser.add_argument("--role", choices=Role.values, required=True)
        parser.add_argument("--email", default="")

    def _password(self, username):
        password = os.environ.get("FLOWTOWER_PASSWORD")
        if password is None:
            if not os.isatty(0):
                raise CommandError("New user needs a password: set FLOWTOWER_PASSWORD or run in a terminal.")
            password = getpass.getpass(f"Password for {username}: ")
            if password != getpass.getpass("Again: "):
                raise CommandError("The passwords differ.")
        try:
            validate_password(password)
        except ValidationError as exc:
            raise CommandError("Password rejected: " + " ".join(exc.messages))
        return password

    def handle(self, team, username, role, email, **options):
        team_obj = Team.objects.filter(slug=team).first()
        if team_obj is None:
            raise CommandError(f"No team '{team}'. Create it first: manage.py create_team {team}")
        User = get_user_model()
        with transaction.atomic():
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User(username=username, email=email)
                user.set_password(self._password(username))
                self.stdout.write(f"Created user {username}")
            # Staff status lets members sign in to admin, where they see only their teams.
            user.is_staff = True
            user.save()
            membership, created = Membership.objects.update_or_create(
                team=team_obj, user=user, defaults={"role": role}
            )
        self.stdout.write(f"{username} is {role} of {team_obj.slug}")
