"""/api/v1/error-groups/ — error groups (docs/error-groups.md): the list with its filters (cursor
pagination, newest activity first), one group, its occurrences, and resolve / ignore / reopen.
Thin adapters over monitoring.error_groups, scoped by monitoring.access: another team's group is
a 404; the actions need the member role (or a token), as resolving an error does."""

import django_filters as filters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from .. import error_groups
from ..access import RESPOND
from ..models import ErrorGroup, ErrorGroupStatus
from ..schemas import StrictSerializer
from ..serializers import ErrorGroupOut, ErrorOut
from .pagination import LogCursor
from .v1 import BooleanFilter, ChoiceInFilter, ScopedFilterSet, ScopedViewSetMixin, UTCDateTimeFilter, _validated

MAX_NOTES = 10_000


class GroupCursor(LogCursor):
    """Groups newest activity first; a cursor stays fast on any page."""

    ordering = ("-last_seen", "-id")


class OccurrenceCursor(LogCursor):
    ordering = ("-timestamp", "-id")


class ErrorGroupFilter(ScopedFilterSet):
    status = ChoiceInFilter(choices=ErrorGroupStatus.choices, help_text="open, resolved, ignored; comma-separated")
    since = UTCDateTimeFilter(field_name="last_seen", lookup_expr="gte", help_text="Seen at or after this time")
    until = UTCDateTimeFilter(field_name="first_seen", lookup_expr="lte", help_text="First seen at or before this time")
    search = filters.CharFilter(method="filter_search", max_length=500,
                                help_text="Words in the title, node name or error code")

    regressed = BooleanFilter(help_text="Reopened by a new occurrence after it was resolved")

    class Meta:
        model = ErrorGroup
        fields = []

    def filter_search(self, queryset, name, value):
        return error_groups.matching(queryset, value)


class ResolveGroupIn(StrictSerializer):
    resolution_notes = serializers.CharField(max_length=MAX_NOTES, required=False, allow_blank=True, default="")
    resolved_by = serializers.CharField(max_length=255, required=False, allow_blank=True, default="",
                                        help_text="A service token may name the person it acts for.")


class NoBodyIn(StrictSerializer):
    """No fields: an empty object (or no body)."""


class ErrorGroupViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = ErrorGroupOut
    filterset_class = ErrorGroupFilter
    pagination_class = GroupCursor
    queryset = ErrorGroup.objects.none()

    def get_queryset(self):
        return error_groups.visible_groups(self.principal).order_by("-last_seen", "-id")

    @extend_schema(responses={200: ErrorOut(many=True)}, filters=False)
    @action(detail=True, methods=["get"], url_path="errors", filterset_class=None, pagination_class=OccurrenceCursor)
    def errors(self, request, pk=None):
        """The group's occurrences still stored, newest first (retention deletes old ones; the
        group's counts keep them)."""
        page = self.paginate_queryset(error_groups.occurrences(self.get_object()))
        return self.get_paginated_response(ErrorOut(page, many=True).data)

    def _act(self, request, name, **kwargs):
        group = self.get_object()
        self.require(RESPOND, group.team_id, f"to {name} error groups; it needs the member or admin role")
        return Response(ErrorGroupOut(error_groups.ACTIONS[name](group, self.principal, **kwargs)).data)

    @extend_schema(request=ResolveGroupIn, responses={200: ErrorGroupOut})
    @action(detail=True, methods=["post"], filterset_class=None)
    def resolve(self, request, pk=None):
        """Resolve the group and its open occurrences. A later occurrence (from an execution that
        held none) reopens it as regressed."""
        data = _validated(ResolveGroupIn, request.data)
        return self._act(request, "resolve", notes=data["resolution_notes"], claimed=data["resolved_by"])

    @extend_schema(request=NoBodyIn, responses={200: ErrorGroupOut})
    @action(detail=True, methods=["post"], filterset_class=None)
    def ignore(self, request, pk=None):
        """Ignore the group: its occurrences are still counted; it never regresses."""
        _validated(NoBodyIn, request.data)
        return self._act(request, "ignore")

    @extend_schema(request=NoBodyIn, responses={200: ErrorGroupOut})
    @action(detail=True, methods=["post"], filterset_class=None)
    def reopen(self, request, pk=None):
        """Open a resolved or ignored group again."""
        _validated(NoBodyIn, request.data)
        return self._act(request, "reopen")
