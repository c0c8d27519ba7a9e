"""POST /api/v1/integrations/n8n/<instance id>/executions-finished — n8n's external hook
(n8n_mirror/hooks/flowtower-hooks.js) says an execution just ended, so Flowtower mirrors that one
at once instead of at the next poll (which stays, as the safety net).

Authenticated with the instance's own hook token (`N8nInstance.hook_token`, made by
`add_n8n_instance --hook-token`, the n8n page or Django admin; n8n_mirror/hook_tokens.py): another
token of the same team is a 403 saying so, an instance of another team, or none, is a 404, so a
token learns nothing about other teams' instances. The answer is 202: the sync is queued once the
request commits, and is idempotent (an execution already mirrored as it is is not written
again). Rate-limited like every token request (DRF's throttles)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from monitoring.api.openapi import DocumentOnly, FlowtowerAutoSchema
from monitoring.models import ServiceToken

from ..models import N8nInstance
from ..tasks import sync_soon

NOT_THE_HOOK_TOKEN = ("This endpoint takes only the n8n instance's own hook token (Authorization: Bearer ft_…), "
                      "made by `manage.py add_n8n_instance … --hook-token` or with \"New hook token\" on the "
                      "n8n page; the team's other tokens are refused.")


class HookSchema(FlowtowerAutoSchema):
    """The hook reads neither ?team= (the token names the team) nor Idempotency-Key (a repeat is
    harmless): neither is documented."""

    def _post_parameters(self, operation):
        return []

    def get_operation(self, *args, **kwargs):
        # The general 403 speaks of roles; here it means "not this instance's hook token".
        operation = super().get_operation(*args, **kwargs)
        if operation is not None and "403" in operation["responses"]:
            operation["responses"]["403"]["description"] = (
                "Not the instance's own hook token: another token of its team, or a signed-in person.")
        return operation


class ExecutionFinished(serializers.Serializer):
    """What n8n's workflow.postExecute hook knows of the execution that ended."""

    executionId = serializers.RegexField(r"^[0-9]{1,18}$", max_length=18,
                                         help_text="n8n's execution id (digits)",
                                         error_messages={"invalid": "must be n8n's execution id: digits only"})
    workflowId = serializers.CharField(required=False, allow_blank=True, max_length=255,
                                       help_text="n8n's workflow id (informative)")

    def to_internal_value(self, data):
        # n8n ids are strings, but a number is what a hand-written caller may send.
        if isinstance(data, dict) and isinstance(data.get("executionId"), int) \
                and not isinstance(data.get("executionId"), bool):
            data = {**data, "executionId": str(data["executionId"])}
        return super().to_internal_value(data)


class Accepted(DocumentOnly):
    instance = serializers.IntegerField(help_text="The n8n instance's id in Flowtower")
    executionId = serializers.CharField()
    status = serializers.ChoiceField(choices=["queued"])


class ExecutionsFinishedHook(APIView):
    schema = HookSchema()

    @extend_schema(request=ExecutionFinished, responses={202: Accepted}, operation_id="n8n_execution_finished",
                   tags=["integrations"])
    def post(self, request, instance_id):
        """n8n's external hook: an execution of this n8n instance ended; Flowtower mirrors it now
        rather than at the next poll. Takes only the instance's own hook token (another token of
        its team is a 403); answers 202 once the sync is queued."""
        token = request.auth if isinstance(request.auth, ServiceToken) else None
        if token is None:
            raise PermissionDenied(NOT_THE_HOOK_TOKEN)
        # Another team's instance is "not found" whatever the token: checked before the hook token.
        instance = N8nInstance.objects.filter(pk=instance_id, team=token.team).first()
        if instance is None:
            raise NotFound(f"n8n instance {instance_id} not found")
        if instance.hook_token_id != token.pk:
            raise PermissionDenied(NOT_THE_HOOK_TOKEN)
        payload = ExecutionFinished(data=request.data)
        payload.is_valid(raise_exception=True)
        execution_id = payload.validated_data["executionId"]
        if instance.enabled:
            sync_soon(instance, [execution_id])
        return Response({"instance": instance.pk, "executionId": execution_id, "status": "queued"}, status=202)
