"""Masking of secrets before anything is stored.

Metadata values under sensitive keys are replaced, at any depth; credentials that appear inside
free text (messages, stacks, descriptions) are replaced too. The key list is FLOWTOWER_MASK_KEYS.
"""

import re

from django.conf import settings

MASK = "********"

# Credentials that show up in free text, each with how to rewrite a match: "Bearer abc",
# "Authorization: Basic abc", "password=abc", "api_key: abc", our own service tokens, and JWTs.
_TEXT_RULES = [
    (re.compile(r"(?i)\b(authorization|cookie|set-cookie)(\s*[:=]\s*)[^\r\n]+"), lambda m: m.group(1) + m.group(2) + MASK),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]{8,}=*"), lambda m: f"{m.group(1)} {MASK}"),
    (
        re.compile(
            r"(?i)([\"']?\b[\w-]*(?:password|passwd|secret|token|api[_-]?key|apikey|private[_-]?key|credential)"
            r"[\w-]*[\"']?\s*[:=]\s*[\"']?)[^\s,;&\"'}]+"
        ),
        lambda m: m.group(1) + MASK,
    ),
    (re.compile(r"\bft_[A-Za-z0-9_\-]{20,}"), lambda m: MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+"), lambda m: MASK),
]


def _normalise(key: str) -> str:
    return key.lower().replace("-", "_")


def is_sensitive_key(key) -> bool:
    if not isinstance(key, str):
        return False
    k = _normalise(key)
    return any(word in k for word in (_normalise(w) for w in settings.FLOWTOWER_MASK_KEYS))


def mask_text(text):
    if not isinstance(text, str) or not text:
        return text
    for pattern, replace in _TEXT_RULES:
        text = pattern.sub(replace, text)
    return text


def mask_data(value):
    """Return a copy of a JSON value with sensitive keys masked and strings scrubbed, at any depth."""
    if isinstance(value, dict):
        return {k: (MASK if is_sensitive_key(k) and v not in (None, "") else mask_data(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_data(v) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value
