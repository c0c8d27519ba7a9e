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


# Every rule above needs one of these words (case aside; a superset of the rules' own case):
# text without any of them is left as it is after one scan instead of one per rule.
_MAY_HOLD_SECRET = re.compile(
    r"(?i)authorization|cookie|bearer|basic|password|passwd|secret|token|api[_-]?key|private[_-]?key|credential"
    r"|ft_|eyj"
)


def _normalise(key: str) -> str:
    return key.lower().replace("-", "_")


# FLOWTOWER_MASK_KEYS normalised, and the verdict on each key seen, for as long as the setting
# is the same object: metadata repeats a few keys across thousands of records.
_cache = {"keys": None, "words": (), "verdicts": {}}
_MAX_VERDICTS = 10_000


def _sensitive_words():
    keys = settings.FLOWTOWER_MASK_KEYS
    if keys is not _cache["keys"]:
        _cache.update(keys=keys, words=tuple(_normalise(w) for w in keys), verdicts={})
    return _cache["words"]


def is_sensitive_key(key, words=None) -> bool:
    if not isinstance(key, str):
        return False
    if words is None:
        words = _sensitive_words()
    verdicts = _cache["verdicts"] if words is _cache["words"] else {}
    verdict = verdicts.get(key)
    if verdict is None:
        k = _normalise(key)
        verdict = any(word in k for word in words)
        if len(verdicts) >= _MAX_VERDICTS:
            verdicts.clear()  # bounded: arbitrary keys must not grow it without end
        verdicts[key] = verdict
    return verdict


def mask_text(text):
    if not isinstance(text, str) or not text or not _MAY_HOLD_SECRET.search(text):
        return text
    for pattern, replace in _TEXT_RULES:
        text = pattern.sub(replace, text)
    return text


def mask_data(value):
    """Return a copy of a JSON value with sensitive keys masked and strings scrubbed, at any depth."""
    return _mask(value, _sensitive_words())


def _mask(value, words):
    if isinstance(value, dict):
        return {k: (MASK if is_sensitive_key(k, words) and v not in (None, "") else _mask(v, words))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, words) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value
