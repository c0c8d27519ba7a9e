"""Decoder for the "flatted" serialization n8n uses for execution_data.data.

Format (the `flatted` JS library): a JSON array whose first entry is the root value. Every object
and array is its own entry; inside them, each string is a reference "N" to entry N (so string
values are entries too), while numbers, booleans and null stay inline. A value that several
places share, or that contains itself, is one entry referenced several times.

The decoder makes every entry's value first and fills the containers in one sweep (no
recursion), so deep nesting cannot hit Python's recursion limit, and a shared or cyclic entry
decodes to one shared Python object.
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
    """Decode an already JSON-parsed flatted array (see module docstring).

    Every entry's Python value is made first (an empty container, or the string itself), so a
    reference resolves with one dict lookup, then the containers are filled in one sweep: no
    recursion, and a shared or cyclic entry is one object. Decoding is most of what reading
    n8n's database costs (each execution's run data is a flatted array, ~80 entries in the
    real n8n's)."""
    if not isinstance(entries, list):
        raise FlattedError("flatted data must be a JSON array")
    if not entries:
        return None
    root = entries[0]
    if not isinstance(root, (dict, list)):
        # A lone primitive root is stored as itself.
        return root
    made = [{} if type(entry) is dict else [] if type(entry) is list else entry for entry in entries]
    by_reference = dict(zip(map(str, range(len(entries))), made))

    def resolve(value):
        # What is not a plain reference: a reference written oddly ("07") or pointing nowhere (an
        # error), a literal (number, boolean, null), or a container written inline.
        if type(value) is str:
            return made[_index(value, len(entries))]
        if isinstance(value, (dict, list)):
            return _inline(value, resolve)
        return value

    for entry, target in zip(entries, made):
        if type(entry) is dict:
            for key, value in entry.items():
                target[key] = by_reference[value] if type(value) is str and value in by_reference else resolve(value)
        elif type(entry) is list:
            target.extend([by_reference[value] if type(value) is str and value in by_reference else resolve(value)
                           for value in entry])
    return made[0]


def _inline(container, resolve):
    """A container written inline rather than as an entry (flatted itself never does; harmless),
    decoded with an explicit work list so deep nesting cannot recurse."""
    top = {} if isinstance(container, dict) else []
    pending = [(container, top)]
    while pending:
        source, target = pending.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, value in items:
            if isinstance(value, (dict, list)):
                value_target = {} if isinstance(value, dict) else []
                pending.append((value, value_target))
            else:
                value_target = resolve(value)
            if isinstance(target, dict):
                target[key] = value_target
            else:
                target.append(value_target)
    return top


def _index(reference, size):
    # Only plain decimal digits are references (flatted writes String(index)).
    if not reference.isdigit() or not reference.isascii():
        raise FlattedError(f"reference {reference[:40]!r} is not an entry index")
    index = int(reference)
    if index >= size:
        raise FlattedError(f"reference {index} points past the last entry ({size - 1})")
    return index
