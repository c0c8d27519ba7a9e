"""Silences and maintenance windows: which alerts they match, when they are in effect, and the
validation of what a person (web UI, admin, API) asks for.

A silence mutes the notifications of the alerts it matches while it is in effect; the alerts are
still recorded and shown, marked silenced (alerts.notify sets the mark). It is in effect between
`starts_at` and `ends_at` (so it expires by itself), and, when `weekdays` are given, only in the
weekly windows: on those days from `daily_start` for `duration_minutes`, on the wall clock of
`time_zone`.

Daylight saving time: a window is a span of the local wall clock. "Every Sunday 02:00 for 120
minutes in Europe/Berlin" covers the instants whose Berlin clock reads 02:00–04:00:
- on the spring-forward day, 02:00 does not exist; a start (or end) in the gap moves forward by
  the gap (02:00 → 03:00 CEST), so that window runs 03:00–04:00 CEST (one real hour);
- on the fall-back day, 02:00–03:00 happens twice; a start (or end) in it means its first
  occurrence (CEST), so that window runs 02:00 CEST – 04:00 CET (three real hours, both 02:xx).
That is what Python's zoneinfo does with `fold=0`, so these rules need no special code."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.utils import timezone

from monitoring.models import AlertSeverity, AlertSource, AlertType

from .models import AlertRule, Silence

MATCHERS = ("team", "workflow", "tag", "alert_type", "severity", "rule", "labels")
MAX_WINDOW_MINUTES = 7 * 24 * 60


# ---- validation -------------------------------------------------------------------------------

def _text(value, limit):
    if not isinstance(value, str) or not value.strip():
        return None, "must be a non-empty string"
    if len(value) > limit:
        return None, f"must be at most {limit} characters"
    return value.strip(), None


def _choice(choices):
    def check(value, team):
        if value not in choices.values:
            return None, f"must be one of {', '.join(choices.values)}"
        return value, None
    return check


def _team(value, team):
    value, error = _text(value, 100)
    if error is None and team is not None and value != team.slug:
        return None, f"must be this silence's team ({team.slug})"
    return value, error


def _rule(value, team):
    # A rule id, as the API shows it; JSON clients may send it as a number or a string.
    if isinstance(value, bool) or not str(value).isdigit() or int(value) < 1:
        return None, "must be a rule id (a positive whole number)"
    if team is not None and not AlertRule.objects.filter(pk=int(value), team=team).exists():
        return None, f"no alert rule {value} in this team"
    return int(value), None


def _labels(value, team):
    if not isinstance(value, dict) or not value:
        return None, "must be a non-empty object of label names to values"
    for name, label_value in value.items():
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            return None, f"label name {name!r} must be 1 to 100 characters"
        if not isinstance(label_value, str) or len(label_value) > 1000:
            return None, f"label {name!r} must have a string value (at most 1000 characters)"
    return dict(value), None


_CHECKS = {
    "team": _team,
    "workflow": lambda value, team: _text(value, 255),
    "tag": lambda value, team: _text(value, 100),
    "alert_type": _choice(AlertType),
    "severity": _choice(AlertSeverity),
    "rule": _rule,
    "labels": _labels,
}


def validate_matchers(matchers, team=None):
    """The cleaned matchers, or a ValidationError keyed by the matcher at fault ({"severity": …}).
    No matchers at all is allowed: a maintenance window for everything of the team. Given the
    team, a rule matcher must name one of its rules."""
    if not isinstance(matchers, dict):
        raise ValidationError({"matchers": "must be an object, e.g. {\"workflow\": \"wf-001\"}"})
    errors, cleaned = {}, {}
    for name, value in matchers.items():
        check = _CHECKS.get(name)
        if check is None:
            errors[name] = f"unknown matcher; use {', '.join(MATCHERS)}"
            continue
        cleaned[name], error = check(value, team)
        if error:
            errors[name] = error
    if errors:
        raise ValidationError(errors)
    return cleaned


def zone(name):
    """The ZoneInfo of an IANA name, or a ValidationError naming time_zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValidationError({"time_zone": f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin"})


def validate_schedule(*, starts_at, ends_at, weekdays=(), daily_start=None, duration_minutes=None, time_zone="UTC"):
    """Check a silence's time range and weekly windows; a ValidationError names each field at fault."""
    errors = {}
    if starts_at is None:
        errors["starts_at"] = "is required"
    if ends_at is None:
        errors["ends_at"] = "is required (silences expire by themselves)"
    elif starts_at is not None and ends_at <= starts_at:
        errors["ends_at"] = "must be after starts_at"
    try:
        zone(time_zone)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    weekdays = weekdays or []
    if not isinstance(weekdays, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in weekdays):
        errors["weekdays"] = "must be a list of ISO weekdays, 1 (Monday) to 7 (Sunday)"
    elif len(set(weekdays)) != len(weekdays):
        errors["weekdays"] = "must not repeat a day"
    if weekdays:
        if daily_start is None:
            errors["daily_start"] = "is required for a recurring silence (local time the window opens)"
        if duration_minutes is None:
            errors["duration_minutes"] = "is required for a recurring silence"
        elif not 1 <= duration_minutes <= MAX_WINDOW_MINUTES:
            errors["duration_minutes"] = f"must be between 1 and {MAX_WINDOW_MINUTES} (a week)"
    elif daily_start is not None or duration_minutes is not None:
        errors["weekdays"] = "are required when daily_start or duration_minutes is given (a weekly window)"
    if errors:
        raise ValidationError(errors)


def validate_silence(silence):
    """Check a whole Silence (admin forms, the API): errors keyed by model field, matcher errors
    under "matchers" as "<matcher>: <problem>". Cleans the matchers in place."""
    errors = {}
    try:
        silence.matchers = validate_matchers(silence.matchers, silence.team if silence.team_id else None)
    except ValidationError as exc:
        errors["matchers"] = [f"{name}: {' '.join(messages)}" for name, messages in exc.message_dict.items()]
    try:
        validate_schedule(starts_at=silence.starts_at, ends_at=silence.ends_at, weekdays=silence.weekdays,
                          daily_start=silence.daily_start, duration_minutes=silence.duration_minutes,
                          time_zone=silence.time_zone)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)


# ---- when a silence is in effect --------------------------------------------------------------

def _local(day, clock, tz):
    # fold=0: a wall time in the spring-forward gap moves forward by the gap, an ambiguous one
    # (fall back) is its first occurrence — see the module docstring.
    return datetime.combine(day, clock, tzinfo=tz)


def windows_around(silence, at):
    """The weekly windows (start, end) of a recurring silence that could contain `at`: those
    opening on the local days up to the window's length before it."""
    tz = zone(silence.time_zone)
    today = at.astimezone(tz).date()
    days_back = silence.duration_minutes // (24 * 60) + 1
    for back in range(days_back, -1, -1):
        day = today - timedelta(days=back)
        if day.isoweekday() not in silence.weekdays:
            continue
        opens = datetime.combine(day, silence.daily_start)
        closes = opens + timedelta(minutes=silence.duration_minutes)
        yield _local(opens.date(), opens.time(), tz), _local(closes.date(), closes.time(), tz)


def is_active(silence, at=None):
    """Whether the silence mutes notifications at `at` (default now)."""
    at = at or timezone.now()
    if not (silence.starts_at <= at < silence.ends_at):
        return False
    if not silence.weekdays:
        return True
    return any(start <= at < end for start, end in windows_around(silence, at))


def active_silences(team_id, at=None):
    """The team's silences in effect at `at`: the time range in the database, the weekly
    windows in Python (few silences per team)."""
    at = at or timezone.now()
    candidates = Silence.objects.filter(team_id=team_id, starts_at__lte=at, ends_at__gt=at)
    return [silence for silence in candidates if is_active(silence, at)]


# ---- which alerts a silence matches -------------------------------------------------------------

def _rule_id(alert):
    # Only alerts raised by a rule carry a trustworthy "rule" label: an Alertmanager alert's
    # labels are whatever Prometheus sent.
    return alert.labels.get("rule") if alert.source == AlertSource.RULE else None


_MATCHES = {
    "team": lambda alert, value: alert.team.slug == value,
    "workflow": lambda alert, value: alert.workflow is not None and alert.workflow.external_id == value,
    "tag": lambda alert, value: alert.workflow is not None and value in (alert.workflow.tags or []),
    "alert_type": lambda alert, value: alert.alert_type == value,
    "severity": lambda alert, value: alert.severity == value,
    "rule": lambda alert, value: _rule_id(alert) is not None and str(_rule_id(alert)) == str(value),
    "labels": lambda alert, value: all(str(alert.labels.get(k)) == str(v) if k in alert.labels else False
                                       for k, v in value.items()),
}


def matches(silence, alert):
    """Whether every matcher of the silence matches the alert (always within the silence's team).
    An unknown matcher (stored before validation) matches nothing, rather than everything."""
    if silence.team_id != alert.team_id:
        return False
    return all(name in _MATCHES and _MATCHES[name](alert, value) for name, value in silence.matchers.items())


def silencing(alert, silences):
    """The first of `silences` (already known to be in effect) that matches the alert, or None."""
    return next((silence for silence in silences if matches(silence, alert)), None)


# ---- "silence this alert for…" -------------------------------------------------------------------

def matchers_for(alert):
    """Matchers that pick out this alert and its repeats: an Alertmanager or integration alert (an
    n8n instance that cannot be synced: labels {"n8n_instance": name}) by its labels, a rule's
    alert by its rule (and workflow), a posted alert by its workflow and type."""
    if alert.source in (AlertSource.ALERTMANAGER, AlertSource.INTEGRATION) and alert.labels:
        return {"labels": {str(k): str(v) for k, v in alert.labels.items()}}
    matchers = {}
    if alert.source == AlertSource.RULE and str(alert.labels.get("rule", "")).isdigit():
        matchers["rule"] = int(alert.labels["rule"])
    else:
        matchers["alert_type"] = alert.alert_type
    if alert.workflow is not None:
        matchers["workflow"] = alert.workflow.external_id
    elif "rule" not in matchers:
        matchers["severity"] = alert.severity
    return matchers


def silence_for(alert, minutes, actor, comment="", at=None):
    """A silence prefilled for "silence this alert for <minutes>", starting now; unsaved, so the
    person can adjust it before saving (then call alerts.notify.silences_changed)."""
    if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 1:
        raise ValidationError({"minutes": "must be a positive whole number of minutes"})
    starts_at = at or timezone.now()
    return Silence(
        team_id=alert.team_id, matchers=matchers_for(alert), starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes), time_zone="UTC", created_by=actor,
        comment=comment or f"Silenced from the alert “{alert.title}” for {minutes} minutes",
    )

