"""What the alerting API's viewsets share: who may write (team admins and super admins; everyone
with a role in the team, and the team's service tokens, may read), which team a new object goes to,
strict input, and fields whose values PostgreSQL would otherwise refuse with a 500."""

import json

from django.core.exceptions import FieldDoesNotExist
from django.db import transaction
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response

from monitoring.access import MANAGE, READ, scope
from monitoring.api import params
from monitoring.api.idempotency import idempotent
from monitoring.api.openapi import FlowtowerAutoSchema
from monitoring.api.v1 import ScopedViewSetMixin
from monitoring.schemas import StrictSerializer, _check_json

NEEDS_ADMIN = "changing a team's alerting; it needs the team admin role"


class AlertingAutoSchema(FlowtowerAutoSchema):
    """POSTs document ?team= and Idempotency-Key only where they are read: creating an object.
    (Sending a test or expiring a silence acts on an object that names its team already.)"""

    def _post_parameters(self, operation):
        if getattr(self.view, "action", None) != "create":
            return []
        return super()._post_parameters(operation)


def managed_team(principal, request):
    """The team a new object goes to: ?team=<slug>, which may be left out by those who administer
    exactly one team. A team the caller cannot see is a 404, one they only read a 403."""
    slug = params.text(request.query_params, "team", 64)
    teams = principal.teams(MANAGE)
    if slug:
        team = teams.filter(slug=slug).first()
        if team is not None:
            return team
        if principal.teams(READ).filter(slug=slug).exists():
            raise PermissionDenied(f"Your role does not allow {NEEDS_ADMIN}.")
        raise NotFound(f"team '{slug}' not found")
    candidates = list(teams[:2])
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise PermissionDenied(f"Your role does not allow {NEEDS_ADMIN}.")
    raise ValidationError({"team": ["is required: you administer several teams; add ?team=<slug>"]})


class TeamAlertingViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    """list / retrieve for everyone who reads the team; create / update / delete for its admins.
    Another team's objects are not found (404). The serializer gets the object's team as
    context["team"], to refuse references to another team's objects."""

    schema = AlertingAutoSchema()
    ordering = ("name", "pk")

    def get_queryset(self):
        model = self.serializer_class.Meta.model
        return scope(model.objects.select_related("team"), self.principal, READ, "team").order_by(*self.ordering)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["principal"] = getattr(self, "principal", None)
        return context

    def create(self, request, *args, **kwargs):
        team = managed_team(self.principal, request)

        def handler():
            with transaction.atomic():
                serializer = self.get_serializer(data=request.data, context={**self.get_serializer_context(),
                                                                               "team": team})
                serializer.is_valid(raise_exception=True)
                obj = serializer.save(team=team, **self.created_by())
            return Response(self.get_serializer(obj).data, status=status.HTTP_201_CREATED)

        return idempotent(request, self.principal, handler)

    def created_by(self):
        """Who makes the object, for the models that record it: the user, or (a text field) their name."""
        try:
            field = self.serializer_class.Meta.model._meta.get_field("created_by")
        except FieldDoesNotExist:
            return {}
        if not field.is_relation:
            return {"created_by": self.principal.display_name}
        user = self.principal.user
        return {"created_by": user} if user is not None and user.pk is not None else {}

    def update(self, request, *args, **kwargs):
        obj = self.get_object()
        self.require(MANAGE, obj.team_id, NEEDS_ADMIN)
        with transaction.atomic():
            serializer = self.get_serializer(obj, data=request.data, partial=kwargs.get("partial", False),
                                             context={**self.get_serializer_context(), "team": obj.team})
            serializer.is_valid(raise_exception=True)
            obj = serializer.save()
        return Response(self.get_serializer(obj).data)

    def destroy(self, request, *args, **kwargs):
        obj = self.get_object()
        self.require(MANAGE, obj.team_id, NEEDS_ADMIN)
        obj.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- input ------------------------------------------------------------------------------------------
class StrictModelSerializer(StrictSerializer, serializers.ModelSerializer):
    """A model serializer that refuses fields it does not take (a typo, or a read-only field sent
    back) with a 400 naming them, instead of ignoring them. Documented with additionalProperties:
    false (monitoring.api.openapi.StrictSerializerSchema)."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise ValidationError({"non_field_errors": ["Expected a JSON object."]})
        writable = {name for name, f in self.fields.items() if not f.read_only}
        unknown = sorted(set(data) - writable)
        if unknown:
            raise ValidationError({name: ["Unknown field."] for name in unknown})
        return serializers.ModelSerializer.to_internal_value(self, data)

    def team(self):
        """The team the object belongs (or will belong) to."""
        return self.context["team"]

    def same_team(self, field_name, objs):
        """Refuse a reference to another team's objects, naming the field: ids the caller cannot
        see are reported the same way as those that do not exist."""
        team = self.team()
        foreign = [obj for obj in objs if obj is not None and obj.team_id != team.pk]
        if foreign:
            raise ValidationError({field_name: [f"must be objects of team '{team.slug}'; "
                                                f"{', '.join(str(o.pk) for o in foreign)} is not."]})


class JSONObjectField(serializers.JSONField):
    """A JSON object without NUL characters (PostgreSQL's jsonb refuses them) and with integers
    that fit 64 bits, at most `max_bytes` long as JSON."""

    def __init__(self, *args, max_bytes=16 * 1024, **kwargs):
        self.max_bytes = max_bytes
        super().__init__(*args, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise ValidationError("must be a JSON object")
        _check_json(data)
        value = super().to_internal_value(data)
        if len(json.dumps(value)) > self.max_bytes:
            raise ValidationError(f"must be at most {self.max_bytes} bytes as JSON")
        return value
