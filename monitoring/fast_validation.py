"""A fast path for validating posted records, with the rules of monitoring.schemas and none of
its own.

DRF's list serializer spends most of a batch post's validation time in its machinery (field
lookups, empty-value handling, validator objects, error collection per field), about 60 µs per
log. This module reads the same serializer's fields once and checks each item with plain
comparisons for the common shapes — a string within its length, a known choice, an integer in
range, a JSON object — and hands anything less plain (a number sent as text, a timestamp, an
unusual type) to that field's own `run_validation`, exactly as the serializer would.

It only ever answers "all valid, here is the validated data" or "not sure": when any item fails
or looks unusual, `validate_records` runs the DRF serializer over the whole list, so error
messages, their shape and what counts as valid stay exactly DRF's. Items it accepts give the
same validated data as the serializer (tests/test_fast_validation.py compares the two on
generated input).
"""

import math
import re

from rest_framework import fields as drf_fields
from rest_framework.exceptions import ValidationError
from rest_framework.fields import SkipField, empty
from rest_framework.serializers import Serializer

_SURROGATES = re.compile("[\ud800-\udfff]")
# The validators a CharField / number field adds for its own arguments; the fast checks below
# apply those rules themselves. Any other validator on a field (e.g. the fingerprint's) is run.
_BUILT_IN_VALIDATORS = ("MaxLengthValidator", "MinLengthValidator", "ProhibitNullCharactersValidator",
                        "ProhibitSurrogateCharactersValidator", "MaxValueValidator", "MinValueValidator")
# Integers beyond this go the DRF way (a float field converts them; huge ones overflow there).
_EXACT_FLOAT_INT = 2**53


class NotPlain(Exception):
    """An item the fast path does not vouch for: the serializer decides."""


def _plain_text(field):
    """A CharField that does not trim: a str within its length, no NUL, no surrogate."""
    max_length, allow_blank = field.max_length, field.allow_blank
    if field.min_length is not None or field.trim_whitespace:
        return None

    def check(value):
        if type(value) is not str:
            raise NotPlain
        if not value:
            if allow_blank:
                return ""  # DRF returns a blank before its validators
            raise NotPlain
        if (max_length is not None and len(value) > max_length) or "\x00" in value:
            raise NotPlain
        if not value.isascii() and _SURROGATES.search(value):
            raise NotPlain
        return value

    return check


def _plain_choice(field):
    choices = {key: value for key, value in field.choice_strings_to_values.items() if key}

    def check(value):
        if type(value) is not str:
            raise NotPlain
        try:
            return choices[value]
        except KeyError:
            raise NotPlain from None

    return check


def _plain_integer(field):
    low = -math.inf if field.min_value is None else field.min_value
    high = math.inf if field.max_value is None else field.max_value

    def check(value):
        if type(value) is not int or not low <= value <= high:
            raise NotPlain
        return value

    return check


def _plain_float(field):
    low = -math.inf if field.min_value is None else field.min_value
    high = math.inf if field.max_value is None else field.max_value

    def check(value):
        if type(value) is int and -_EXACT_FLOAT_INT < value < _EXACT_FLOAT_INT:
            value = float(value)
        elif type(value) is not float or not math.isfinite(value):
            raise NotPlain
        if not low <= value <= high:
            raise NotPlain
        return value

    return check


def _field_as_is(field):
    """The field's own validation (e.g. a timestamp, a JSON object): the serializer's exact rule.
    A field that validates with the base class's steps and has no validators is only its
    to_internal_value for a value that is neither missing nor null: that is called directly."""
    direct = (type(field).run_validation is drf_fields.Field.run_validation
              and type(field).validate_empty_values is drf_fields.Field.validate_empty_values
              and not field.validators and not field.read_only)
    validate = field.to_internal_value if direct else field.run_validation

    def check(value):
        if value is None and direct:
            if field.allow_null:
                return None
            raise NotPlain
        try:
            return validate(value)
        except (ValidationError, SkipField):
            raise NotPlain from None

    return check


def _extra_validators(field):
    return [v for v in field.validators if type(v).__name__ not in _BUILT_IN_VALIDATORS]


def _checker(field):
    """check(value) -> validated value, raising NotPlain; for a value that is present."""
    kind = type(field)
    if kind is drf_fields.CharField:
        fast = _plain_text(field)
    elif kind is drf_fields.ChoiceField:
        fast = _plain_choice(field)
    elif kind is drf_fields.IntegerField:
        fast = _plain_integer(field)
    elif kind is drf_fields.FloatField:
        fast = _plain_float(field)
    else:
        return _field_as_is(field)  # validators included
    if fast is None:
        return _field_as_is(field)
    extra = _extra_validators(field)
    allow_null = field.allow_null

    def check(value):
        if value is None:
            if allow_null:
                return None
            raise NotPlain
        value = fast(value)
        for validator in extra:
            try:
                validator(value)
            except Exception:  # DRF's or Django's ValidationError: the serializer words it
                raise NotPlain from None
        return value

    return check


def _missing(field):
    """What a left-out field becomes: ("skip",) when it stays out of the data, ("default", v) for
    its default, or None when it is required (then the item is not plain)."""
    if field.required:
        return None
    if field.default is empty:
        return ("skip",)
    return ("default", field.default)


class FastValidator:
    """Validates lists of one kind of record with the rules of a StrictSerializer subclass."""

    def __init__(self, schema):
        if schema.validate is not Serializer.validate:
            raise TypeError(f"{schema.__name__} has serializer-level validation; the fast path does not cover it")
        instance = schema()
        self.fields = []  # (name, check, when missing)
        for name, field in instance.fields.items():
            if field.read_only or field.source != name:
                raise TypeError(f"{schema.__name__}.{name}: only plain writable fields are supported")
            self.fields.append((name, _checker(field), _missing(field)))
        self.names = frozenset(instance.fields)

    def validate_item(self, item):
        if type(item) is not dict or not self.names.issuperset(item):
            raise NotPlain
        out = {}
        for name, check, missing in self.fields:
            value = item.get(name, empty)
            if value is empty:
                if missing is None:
                    raise NotPlain
                if missing[0] == "default":
                    out[name] = missing[1]() if callable(missing[1]) else missing[1]
                continue
            out[name] = check(value)
        return out

    def validate(self, items):
        """The validated items, or None when any is not plainly valid."""
        if type(items) is not list:
            return None
        try:
            return [self.validate_item(item) for item in items]
        except NotPlain:
            return None
