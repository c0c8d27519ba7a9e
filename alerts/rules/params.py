"""Reading a rule's `params` the same way in every kind: numbers within bounds, choices, booleans,
defaults, and unknown names refused. Every problem is collected so one ValidationError names
every bad field at once ({"threshold_percent": "…", "window_minutes": "…"})."""

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

# The longest window or duration a rule may use: a week. Longer windows would make a pass read
# more executions than the beat interval can afford, and nobody waits a week for an alert.
MAX_WINDOW_MINUTES = 7 * 24 * 60

_MISSING = object()


class ParamReader:
    """Reads params one name at a time, remembering errors; `cleaned()` raises them together."""

    def __init__(self, params):
        self.raw = params if isinstance(params, dict) else None
        self.errors = {}
        self.out = {}
        if self.raw is None:
            self.errors["params"] = "Must be a JSON object."
            self.raw = {}

    def _get(self, name, default):
        value = self.raw.get(name, _MISSING)
        if value is _MISSING or value is None or value == "":
            if default is _MISSING:
                self.errors[name] = "This parameter is required."
            return _MISSING, default
        return value, default

    def number(self, name, *, default=_MISSING, minimum=None, above=None, maximum=None, below=None, integer=False):
        """A number (JSON number or a numeric string, as forms send) within the bounds given:
        minimum/maximum inclusive, above/below exclusive."""
        value, default = self._get(name, default)
        if value is _MISSING:
            if default is not _MISSING:
                self.out[name] = default
            return
        number = _as_number(value, integer)
        if number is None:
            self.errors[name] = "Must be a whole number." if integer else "Must be a number."
        elif minimum is not None and number < minimum:
            self.errors[name] = f"Must be at least {minimum}."
        elif above is not None and number <= above:
            self.errors[name] = f"Must be greater than {above}."
        elif maximum is not None and number > maximum:
            self.errors[name] = f"Must be at most {maximum}."
        elif below is not None and number >= below:
            self.errors[name] = f"Must be below {below}."
        else:
            self.out[name] = number

    def minutes(self, name, *, default=_MISSING, minimum=1):
        """A window or duration in whole minutes, from `minimum` to a week."""
        self.number(name, default=default, minimum=minimum, maximum=MAX_WINDOW_MINUTES, integer=True)

    def choice(self, name, choices, *, default=_MISSING):
        value, default = self._get(name, default)
        if value is _MISSING:
            if default is not _MISSING:
                self.out[name] = default
        elif value not in choices:
            self.errors[name] = f"Must be one of: {', '.join(choices)}."
        else:
            self.out[name] = value

    def boolean(self, name, *, default=False):
        value = self.raw.get(name, default)
        if not isinstance(value, bool):
            self.errors[name] = "Must be true or false."
        else:
            self.out[name] = value

    def refuse(self, name, reason):
        """A name this rule must not carry (e.g. a window in single mode)."""
        if name in self.raw:
            self.errors[name] = reason

    def cleaned(self):
        for name in self.raw:
            if name not in self.out and name not in self.errors:
                # A typo ("threshold" for "threshold_percent") would otherwise be silently ignored.
                self.errors[name] = "Unknown parameter for this kind of rule."
        if self.errors:
            raise ValidationError(self.errors)
        return self.out


def _as_number(value, integer):
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            return None
        if not value.is_finite():
            return None
        value = int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if not isinstance(value, (int, float)):
        return None
    if integer:
        if isinstance(value, float):
            if not value.is_integer():
                return None
            value = int(value)
    return value
