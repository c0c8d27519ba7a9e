"""What makes two errors "the same error": their fingerprint, the key of their error group
(monitoring.models.ErrorGroup). Rules in docs/error-groups.md.

An error's fingerprint is the sha256 of its workflow, node, error type, error code and message,
the message with its variable parts replaced by placeholders (ids, numbers, quoted values, emails,
query strings, times, long tokens), so "missing customer_id 4711" and "missing customer_id 4712"
are one group. A client that knows better sends its own `fingerprint`: that string, hashed with
the workflow, is the key instead (a group never spans workflows)."""

import hashlib
import re

# Order matters: the larger shapes first, so a UUID is not first eaten as hex and numbers, a URL's
# query string before its numbers, an ISO time before its digits.
_RULES = [
    # Quoted values: 'abc', "abc", `abc` (what n8n and most libraries quote is the variable part).
    # A single quote after a letter is an apostrophe ("can't"), not a quote.
    (re.compile(r"(?<!\w)'[^'\n]*'|\"[^\"\n]*\"|`[^`\n]*`"), "<str>"),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    # A URL keeps its scheme, host and path; its query string and fragment vary per call.
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#'\"]*)[?#][^\s'\"]*"), r"\1?<query>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"),
     "<time>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b"), "<ip>"),
    (re.compile(r"\b\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\b"), "<time>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    # Hex ids (commit hashes, Mongo ObjectIds, request ids): 8+ hex characters with a digit in them.
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    # Long tokens: 20+ characters of letters, digits and -_ mixing letters and digits (API keys,
    # JWT parts, session ids).
    (re.compile(r"\b(?=[\w-]*\d)(?=[\w-]*[a-zA-Z])[\w-]{20,}\b"), "<token>"),
    (re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w])"), "<num>"),
]
_SPACES = re.compile(r"\s+")


def normalise_message(message):
    """The message with its variable parts replaced by placeholders, spaces collapsed."""
    text = message or ""
    for pattern, placeholder in _RULES:
        text = pattern.sub(placeholder, text)
    return _SPACES.sub(" ", text).strip()


def _sha256(*parts):
    # NUL never occurs in validated text (monitoring.schemas): an unambiguous separator.
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def error_fingerprint(workflow_pk, node_name="", error_type="", error_code="", message="", client_fingerprint=None):
    """The group key (sha256 hex) of one error of the workflow whose primary key is `workflow_pk`."""
    if client_fingerprint:
        return _sha256("client", str(workflow_pk), client_fingerprint)
    return _sha256("auto", str(workflow_pk), node_name or "", error_type or "", error_code or "",
                   normalise_message(message))


def group_title(message):
    """A group's title: the first non-blank line of its first occurrence's message, at most 255."""
    for line in (message or "").splitlines():
        if line.strip():
            return line.strip()[:255]
    return "(no message)"
