"""A workflow's expected run interval, in minutes, from its Schedule Trigger or (legacy) Cron
node's parameters. None when the workflow has no such node or the rule cannot be read."""

import math
import statistics
from datetime import date, timedelta

SCHEDULE_TRIGGER = "n8n-nodes-base.scheduleTrigger"
CRON_NODE = "n8n-nodes-base.cron"
MINUTES = {"seconds": 1 / 60, "minutes": 1, "hours": 60, "days": 1440, "weeks": 7 * 1440, "months": 30 * 1440}
# n8n's defaults when a Schedule Trigger rule leaves the number out.
DEFAULT_INTERVAL = {"seconds": 30, "minutes": 5, "hours": 1, "days": 1, "weeks": 1, "months": 1}
CRON_MACROS = {"@hourly": 60, "@daily": 1440, "@midnight": 1440, "@weekly": 7 * 1440, "@monthly": 30 * 1440,
               "@yearly": 365 * 1440, "@annually": 365 * 1440}
LEGACY_MODES = {"everyMinute": 1, "everyHour": 60, "everyDay": 1440, "everyWeek": 7 * 1440, "everyMonth": 30 * 1440}


def workflow_schedule_minutes(nodes):
    """The shortest interval among the workflow's enabled schedule nodes (it runs at least that
    often), or None."""
    intervals = [node_schedule_minutes(n) for n in nodes or [] if isinstance(n, dict) and not n.get("disabled")]
    known = [i for i in intervals if i is not None]
    return min(known) if known else None


def node_schedule_minutes(node):
    readers = {SCHEDULE_TRIGGER: _schedule_trigger, CRON_NODE: _legacy_cron}
    read = readers.get(node.get("type"))
    if read is None:
        return None
    try:
        return read(node.get("parameters") or {})
    except (TypeError, ValueError, KeyError, AttributeError):
        return None


def _whole_minutes(minutes):
    # Flowtower's monitors work in whole minutes: a run every 30 s counts as every minute.
    return max(1, math.ceil(minutes - 1e-9)) if minutes is not None else None


def _schedule_trigger(parameters):
    rules = (parameters.get("rule") or {}).get("interval") or [{"field": "days"}]
    return _min_known(_schedule_rule(rule) for rule in rules)


def _schedule_rule(rule):
    field = rule.get("field") or "days"
    if field == "cronExpression":
        return cron_interval_minutes(rule.get("expression") or "")
    if field not in MINUTES:
        return None
    every = float(rule.get(f"{field}Interval") or DEFAULT_INTERVAL[field])
    if field == "weeks" and rule.get("triggerAtDay"):
        # Several weekdays a week: on average that many runs per `every` weeks.
        return _whole_minutes(every * MINUTES["weeks"] / len(rule["triggerAtDay"]))
    return _whole_minutes(every * MINUTES[field])


def _legacy_cron(parameters):
    items = (parameters.get("triggerTimes") or {}).get("item") or []
    return _min_known(_legacy_item(item) for item in items)


def _legacy_item(item):
    mode = item.get("mode")
    if mode in LEGACY_MODES:
        return LEGACY_MODES[mode]
    if mode == "everyX":
        return _whole_minutes(float(item.get("value") or 1) * MINUTES.get(item.get("unit") or "hours", 60))
    if mode == "custom":
        return cron_interval_minutes(item.get("cronExpression") or "")
    return None


def _min_known(values):
    known = [v for v in values if v is not None]
    return min(known) if known else None


# --- cron expressions ------------------------------------------------------------------------

FIELD_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
NAMES = {"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10,
         "nov": 11, "dec": 12, "sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
MAX_FIRES = 5000
WINDOW_DAYS = 2 * 366


def cron_interval_minutes(expression):
    """The typical (median) gap between runs of a 5-field cron expression (6 fields: with
    seconds first, as n8n allows). None for what it cannot read (L, W, #, bad fields)."""
    text = expression.strip().lower()
    if text in CRON_MACROS:
        return CRON_MACROS[text]
    fields = text.split()
    if len(fields) == 6:
        seconds, fields = _expand(fields[0], 0, 59), fields[1:]
        if seconds is None:
            return None
        if len(seconds) > 1:
            return 1
    if len(fields) != 5:
        return None
    sets = [_expand(f, low, high) for f, (low, high) in zip(fields, FIELD_RANGES)]
    if any(s is None for s in sets):
        return None
    minutes, hours, days, months, weekdays = sets
    weekdays = {d % 7 for d in weekdays}
    fires = _fire_times(minutes, hours, days, months, weekdays, fields[2] not in ("*", "?"), fields[4] not in ("*", "?"))
    if len(fires) < 2:
        return None
    return _whole_minutes(statistics.median(b - a for a, b in zip(fires, fires[1:])))


def _fire_times(minutes, hours, days, months, weekdays, days_restricted, weekdays_restricted):
    # Minutes since the window start at which the expression fires, for up to MAX_FIRES runs.
    in_day = sorted(h * 60 + m for h in hours for m in minutes)
    start, fires = date(2025, 1, 1), []
    for offset in range(WINDOW_DAYS):
        day = start + timedelta(days=offset)
        if day.month not in months:
            continue
        by_day, by_weekday = day.day in days, (day.isoweekday() % 7) in weekdays
        # Standard cron: when both day fields are restricted, either one matching is enough.
        matches = (by_day or by_weekday) if days_restricted and weekdays_restricted else (by_day and by_weekday)
        if matches:
            fires.extend(offset * 1440 + t for t in in_day)
            if len(fires) >= MAX_FIRES:
                break
    return fires


def _expand(field, low, high):
    values = set()
    for part in field.split(","):
        part, _, step_text = part.partition("/")
        if part in ("*", "?"):
            first, last = low, high
        elif "-" in part:
            first, last = (_value(p) for p in part.split("-", 1))
        else:
            first = last = _value(part)
            if step_text:
                last = high
        if first is None or last is None or not (low <= first <= last <= high):
            return None
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else (None if step_text else 1)
        if step is None:
            return None
        values.update(range(first, last + 1, step))
    return values


def _value(text):
    if text.isdigit():
        return int(text)
    return NAMES.get(text)
