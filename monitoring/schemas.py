"""What a posted record must look like. Every source (REST API, n8n mirror, demo generator) is
validated by these before ingestion, so a bad value is a clear 400 naming the field, never a
database error. Bounds match the columns (PostgreSQL integer, bigint, numeric(5,2), …)."""

import json
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from .fast_validation import FastValidator
from .metrics import ingestion as ingestion_metrics
from .models import AlertSeverity, AlertType, ErrorSeverity, ErrorType, LogLevel

INT_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1
MAX_JSON_DEPTH = 20
# Integers in metadata must fit 64 bits (signed, or unsigned for ids): jsonb would keep a larger
# one, but live updates (msgpack over Redis) and most JSON readers cannot carry it faithfully.
JSON_INT_MIN, JSON_INT_MAX = -(2**63), 2**64 - 1
# Clocks drift; a record more than this far in the future is a bug on the sender's side.
MAX_CLOCK_SKEW = timedelta(hours=1)


def _check_json(value, depth=0):
    if depth > MAX_JSON_DEPTH:
        raise serializers.ValidationError(f"is nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, dict):
        for k, v in value.items():
            if "\x00" in k:
                raise serializers.ValidationError("keys must not contain NUL characters")
            _check_json(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_json(v, depth + 1)
    elif isinstance(value, str) and "\x00" in value:
        raise serializers.ValidationError("strings must not contain NUL characters")
    elif isinstance(value, int) and not isinstance(value, bool) and not JSON_INT_MIN <= value <= JSON_INT_MAX:
        raise serializers.ValidationError("numbers must fit in 64 bits")


class MetadataField(serializers.JSONField):
    """A JSON object, bounded in size and depth, with no NUL characters (PostgreSQL rejects them)
    and no integer beyond 64 bits."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("must be a JSON object")
        _check_json(data)
        try:
            size = len(json.dumps(data))  # JSON from a request: the encoder's fast path
        except TypeError:
            size = len(json.dumps(data, default=str))
        if size > settings.FLOWTOWER_MAX_METADATA_BYTES:
            raise serializers.ValidationError(
                f"is {size} bytes; at most {settings.FLOWTOWER_MAX_METADATA_BYTES} are accepted"
            )
        return data


class TimestampField(serializers.DateTimeField):
    def to_internal_value(self, value):
        result = super().to_internal_value(value)
        if result > timezone.now() + MAX_CLOCK_SKEW:
            raise serializers.ValidationError("is in the future")
        return result


class StrictSerializer(serializers.Serializer):
    """Rejects fields it does not know, so a typo is an error instead of silently lost data."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


def _text(max_length, **kw):
    return serializers.CharField(max_length=max_length, trim_whitespace=False, **kw)


def _optional_text(max_length):
    return _text(max_length, required=False, allow_blank=True, default="")


class RecordIn(StrictSerializer):
    workflow_id = _text(255)
    workflow_name = _optional_text(255)
    execution_id = _text(255)
    timestamp = TimestampField(required=False)
    metadata = MetadataField(required=False, default=dict)


class LogIn(RecordIn):
    log_level = serializers.ChoiceField(choices=LogLevel.choices)
    message = _text(100_000)
    node_id = _optional_text(255)
    node_name = _optional_text(255)
    step_number = serializers.IntegerField(min_value=0, max_value=INT_MAX, required=False, allow_null=True)
    duration = serializers.IntegerField(min_value=0, max_value=INT_MAX, required=False, allow_null=True)


def _check_error_fingerprint(value):
    if not value.strip():
        raise serializers.ValidationError("must not be blank; leave it out to let the server compute one")


class ErrorIn(RecordIn):
    error_type = serializers.ChoiceField(choices=ErrorType.choices, default=ErrorType.UNKNOWN)
    error_code = _optional_text(100)
    error_message = _text(100_000)
    error_stack = _optional_text(200_000)
    node_name = _optional_text(255)
    severity = serializers.ChoiceField(choices=ErrorSeverity.choices, default=ErrorSeverity.MEDIUM)
    # What makes two errors "the same error" (one error group), when the client knows better than
    # Flowtower's normalised message (monitoring.fingerprints). Hashed with the workflow.
    fingerprint = _text(255, required=False, allow_null=True, default=None, validators=[_check_error_fingerprint],
                        help_text="Errors of a workflow with the same fingerprint form one error group; default: "
                                  "derived from the node, error type, error code and the message with its "
                                  "variable parts (numbers, ids, quoted values, …) left out.")


def _percent():
    return serializers.FloatField(min_value=0, max_value=999.99, required=False, allow_null=True)


def _bytes():
    return serializers.IntegerField(min_value=0, max_value=BIGINT_MAX, required=False, allow_null=True)


def _count():
    return serializers.IntegerField(min_value=0, max_value=INT_MAX, required=False, default=0)


class PerformanceIn(RecordIn):
    total_duration = serializers.IntegerField(min_value=0, max_value=INT_MAX)
    node_count = _count()
    successful_nodes = _count()
    failed_nodes = _count()
    memory_peak = _bytes()
    memory_average = _bytes()
    cpu_peak = _percent()
    cpu_average = _percent()
    network_requests = serializers.IntegerField(min_value=0, max_value=INT_MAX, required=False, allow_null=True)
    network_data_transferred = _bytes()
    throughput = serializers.FloatField(min_value=0, max_value=99_999_999.99, required=False, allow_null=True)
    bottleneck_nodes = serializers.ListField(child=_text(255), max_length=100, required=False, default=list)


# Fingerprints Flowtower makes itself: a posted alert must not count as (or resolve with) a
# rule's, Alertmanager's or an n8n instance's sync alert.
RESERVED_FINGERPRINT_PREFIXES = ("rule:", "am:", "n8n-sync:")


def _check_fingerprint(value):
    if not value.strip():
        raise serializers.ValidationError("must not be blank; leave it out to let the server compute one")
    if value.startswith(RESERVED_FINGERPRINT_PREFIXES):
        raise serializers.ValidationError(
            f"must not start with {', '.join(RESERVED_FINGERPRINT_PREFIXES[:-1])} or "
            f"{RESERVED_FINGERPRINT_PREFIXES[-1]}: those are Flowtower's own"
        )


class AlertIn(RecordIn):
    execution_id = _text(255, required=False, allow_null=True, default=None)
    alert_type = serializers.ChoiceField(choices=AlertType.choices)
    severity = serializers.ChoiceField(choices=AlertSeverity.choices)
    title = _text(255)
    description = _optional_text(100_000)
    # What makes two posts "the same alert": while one with this fingerprint is open, a repeat
    # counts it (occurrences, last_seen_at) instead of adding an alert. Default: computed from the
    # workflow id, alert type and title (monitoring.deduplication.posted_fingerprint).
    fingerprint = _text(128, required=False, allow_null=True, default=None,
                        validators=[_check_fingerprint],
                        help_text="Alerts with the same fingerprint are one alert while it is open; default: "
                                  "derived from workflow_id, alert_type and title.")


# kind -> (input schema, batch key). The batch body uses the plural keys.
KINDS = {
    "log": (LogIn, "logs"),
    "error": (ErrorIn, "errors"),
    "performance": (PerformanceIn, "performance"),
    "alert": (AlertIn, "alerts"),
}
BATCH_KEYS = {batch_key: kind for kind, (_, batch_key) in KINDS.items()}


_FAST = {}  # kind -> FastValidator, built on first use (the fields are read once per process)


def _fast_validator(kind):
    if kind not in _FAST:
        _FAST[kind] = FastValidator(KINDS[kind][0])
    return _FAST[kind]


def validate_records(kind, items):
    """Validate a list of raw items of one kind; returns (valid data list, {index: errors}).
    Plainly valid items take the fast path (monitoring.fast_validation, the same rules); anything
    else goes through one list serializer for the whole batch, which words the errors."""
    valid = _fast_validator(kind).validate(items)
    if valid is not None:
        return valid, {}
    batch = KINDS[kind][0](data=list(items), many=True)
    if batch.is_valid():
        return list(batch.validated_data), {}
    errors = batch.errors
    # DRF reports a list aligned with the items, or (newer versions) a dict of failing indexes.
    pairs = errors.items() if isinstance(errors, dict) else enumerate(errors)
    failing = {str(i): e for i, e in pairs if e}
    ingestion_metrics.rejected(kind, len(failing) or 1)  # a body that is not a list of objects: one
    return [], failing


class ErrorUpdateIn(StrictSerializer):
    resolved = serializers.BooleanField()
    resolution_notes = _optional_text(100_000)
    resolved_by = _optional_text(255)


class AlertUpdateIn(StrictSerializer):
    acknowledged = serializers.BooleanField(required=False)
    acknowledged_by = _optional_text(255)
    resolved = serializers.BooleanField(required=False)
    resolved_by = _optional_text(255)
    resolution_notes = _optional_text(100_000)

    def validate(self, attrs):
        if "acknowledged" not in attrs and "resolved" not in attrs:
            raise serializers.ValidationError("Give at least one of: acknowledged, resolved.")
        return attrs
