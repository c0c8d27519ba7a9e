"""Idempotency-Key on POST: a retry with the same key gets the first answer and writes nothing.

The key row is written in the same transaction as the data, so a crash between them is
impossible, and two concurrent requests with one key cannot both commit (the unique constraint
stops the second, which then replays the first's answer).

A key is remembered for FLOWTOWER_IDEMPOTENCY_TTL_HOURS. After that it is forgotten: the next
request with it is new. Retention deletes expired rows (monitoring.retention.prune); until it
runs, a request that reuses an expired key replaces the row."""

import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from ..models import IdempotencyKey

HEADER = "Idempotency-Key"


class KeyReused(exceptions.APIException):
    status_code = 422
    default_detail = "This Idempotency-Key was already used with a different request."
    default_code = "idempotency_key_reused"


def _fingerprint(request):
    body = json.dumps(request.data, sort_keys=True, default=str)
    return hashlib.sha256(f"{request.method} {request.get_full_path()} {body}".encode()).hexdigest()


def _replay(record, fingerprint):
    if record.request_hash != fingerprint:
        raise KeyReused()
    response = Response(record.response, status=record.status_code)
    response["Idempotent-Replayed"] = "true"
    return response


def _is_expired(record):
    """A key older than FLOWTOWER_IDEMPOTENCY_TTL_HOURS is forgotten."""
    return record.created_at < timezone.now() - timedelta(hours=settings.FLOWTOWER_IDEMPOTENCY_TTL_HOURS)


def idempotent(request, principal, handler):
    """Run `handler()` (which returns a Response) once per Idempotency-Key."""
    key = request.headers.get(HEADER)
    if key is None:
        return handler()
    if not key.strip() or len(key) > 255 or "\x00" in key:
        raise exceptions.ValidationError({HEADER: ["must be 1 to 255 characters, without NUL characters"]})
    fingerprint = _fingerprint(request)
    existing = IdempotencyKey.objects.filter(principal=principal.key, key=key).first()
    if existing is not None and not _is_expired(existing):
        return _replay(existing, fingerprint)
    try:
        with transaction.atomic():
            if existing is not None:
                # The expired row would block the new one (unique key). By primary key, so a
                # concurrent retry's fresh row is never deleted.
                IdempotencyKey.objects.filter(pk=existing.pk).delete()
            response = handler()
            if 200 <= response.status_code < 300:
                IdempotencyKey.objects.create(
                    principal=principal.key,
                    key=key,
                    request_hash=fingerprint,
                    status_code=response.status_code,
                    response=json.loads(JSONRenderer().render(response.data)),
                )
    except IntegrityError:
        # A concurrent request with the same key committed first; our writes were rolled back.
        existing = IdempotencyKey.objects.filter(principal=principal.key, key=key).first()
        if existing is None:
            raise
        return _replay(existing, fingerprint)
    return response
