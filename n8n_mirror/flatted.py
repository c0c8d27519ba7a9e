"""Decoder for the "flatted" serialization n8n uses for execution_data.data.

Format (the `flatted` JS library): a JSON array whose first entry is the root value. Every object
and array is its own entry; inside them, each string is a reference "N" to entry N (so string
values are entries too), while numbers, booleans and null stay inline. A value that several
places share, or that contains itself, is one entry referenced several times.

The decoder is iterative (an explicit work list, no recursion), so deep nesting cannot hit
Python's recursion limit, and a shared or cyclic entry decodes to one shared Python object.
"""

import json


class FlattedError(ValueError):
    """The text is not valid flatted data (not a JSON array, or a reference that points nowhere)."""


def parse(text):
    """Decode flatted text (str or bytes) into Python values. Returns None for an empty array."""
    try:
        entries = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise FlattedError(f"not JSON: {exc}") from None
    return decode_entries(entries)


def decode_entries(entries):
    """Decode an already JSON-parsed flatted array (see module docstring)."""
    if not isinstance(entries, list):
        raise FlattedError("flatted data must be a JSON array")
    if not entries:
        return None
    root = entries[0]
    if not isinstance(root, (dict, list)):
        # A lone primitive root is stored as itself.
        return root
    decoded = {}  # entry index -> the one Python container built for it
    pending = []  # (source container from the JSON, target container to fill)

    def resolve(value):
        # Strings are references; containers found inline (not produced by flatted itself, but
        # harmless) are decoded the same way; everything else is a literal.
        if isinstance(value, str):
            return _entry(_index(value, len(entries)))
        if isinstance(value, (dict, list)):
            target = {} if isinstance(value, dict) else []
            pending.append((value, target))
            return target
        return value

    def _entry(index):
        entry = entries[index]
        if not isinstance(entry, (dict, list)):
            return entry
        if index not in decoded:
            decoded[index] = {} if isinstance(entry, dict) else []
            pending.append((entry, decoded[index]))
        return decoded[index]

    result = _entry(0)
    while pending:
        source, target = pending.pop()
        if isinstance(source, dict):
            for key, value in source.items():
                target[key] = resolve(value)
        else:
            target.extend(resolve(value) for value in source)
    return result


def _index(reference, size):
    # Only plain decimal digits are references (flatted writes String(index)).
    if not reference.isdigit() or not reference.isascii():
        raise FlattedError(f"reference {reference[:40]!r} is not an entry index")
    index = int(reference)
    if index >= size:
        raise FlattedError(f"reference {index} points past the last entry ({size - 1})")
    return index
