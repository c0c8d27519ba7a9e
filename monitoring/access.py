"""Who may do what, for which teams: the one place every adapter (REST, admin, web UI, websockets)
asks. A principal is a signed-in user or a service token.

Actions and who may do them:
- read:    viewers, members, admins of the team; the team's service tokens; super admins
- respond: acknowledge and resolve errors and alerts: members, admins, tokens, super admins
- ingest:  post monitoring data, create and update executions and workflows: admins, tokens,
           super admins
- manage:  change or delete workflows, tokens, memberships: admins, super admins
- prune:   delete data for retention by hand: super admins only
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .models import ROLE_RANK, Alert, Membership, Role, ServiceToken, Team, Workflow

READ, RESPOND, INGEST, MANAGE, PRUNE = "read", "respond", "ingest", "manage", "prune"

# The least role an action needs; None means no team role is enough.
MIN_ROLE = {READ: Role.VIEWER, RESPOND: Role.MEMBER, INGEST: Role.ADMIN, MANAGE: Role.ADMIN, PRUNE: None}
TOKEN_ACTIONS = {READ, RESPOND, INGEST}


@dataclass
class Principal:
    user: object | None = None
    token: ServiceToken | None = None
    _roles: dict | None = field(default=None, repr=False)

    @property
    def is_superuser(self) -> bool:
        return bool(self.user is not None and self.user.is_active and self.user.is_superuser)

    @property
    def key(self) -> str:
        """Stable identity, e.g. for idempotency keys and throttling."""
        return f"token:{self.token.pk}" if self.token else f"user:{self.user.pk}"

    @property
    def display_name(self) -> str:
        """What goes into resolved_by / acknowledged_by."""
        return f"token:{self.token.name}" if self.token else self.user.get_username()

    def roles(self) -> dict[int, str]:
        """team id -> role, read once per principal."""
        if self._roles is None:
            if self.token is not None:
                self._roles = {self.token.team_id: "token"}
            elif self.user is None or not self.user.is_authenticated:
                self._roles = {}
            else:
                self._roles = dict(Membership.objects.filter(user=self.user).values_list("team_id", "role"))
        return self._roles

    def team_ids(self, action: str = READ) -> set[int] | None:
        """Teams this principal may do `action` in; None means every team (super admins)."""
        if self.is_superuser:
            return None
        if self.token is not None:
            return {self.token.team_id} if action in TOKEN_ACTIONS else set()
        need = MIN_ROLE[action]
        if need is None:
            return set()
        return {team for team, role in self.roles().items() if ROLE_RANK[role] >= ROLE_RANK[need]}

    def can(self, action: str, team_id: int) -> bool:
        allowed = self.team_ids(action)
        return allowed is None or team_id in allowed

    def teams(self, action: str = READ):
        ids = self.team_ids(action)
        return Team.objects.all() if ids is None else Team.objects.filter(pk__in=ids)


# How a model's rows reach their team. Alerts have a team of their own, because one from
# Alertmanager may name no workflow; every other record belongs to its workflow's team.
TEAM_PATHS = {Alert: "team", Workflow: "team", Membership: "team", ServiceToken: "team"}


def team_path(model) -> str:
    return TEAM_PATHS.get(model, "workflow__team")


def team_id_of(obj) -> int:
    """The id of the team `obj` belongs to, by the same path scoping uses."""
    *hops, last = team_path(type(obj)).split("__")
    for hop in hops:
        obj = getattr(obj, hop)
    return getattr(obj, f"{last}_id")


def scope(queryset, principal: Principal, action: str = READ, team_field: str | None = None):
    """Restrict a queryset to the teams where the principal may do `action`. `team_field` is how
    a row reaches its team; by default the model's path (team_path)."""
    ids = principal.team_ids(action)
    if ids is None:
        return queryset
    return queryset.filter(**{f"{team_field or team_path(queryset.model)}__in": ids})


def principal_from_request(request) -> Principal:
    """The request's principal: its service token (REST API) or its user. Kept on the request,
    because pages and admin ask many times per request and memberships are read once."""
    token = getattr(request, "auth", None)
    cached = getattr(request, "_flowtower_principal", None)
    if cached is None or (isinstance(token, ServiceToken) and cached.token is not token):
        cached = Principal(token=token) if isinstance(token, ServiceToken) else Principal(user=request.user)
        request._flowtower_principal = cached
    return cached
