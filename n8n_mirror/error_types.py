"""Which Flowtower error type an n8n error is. Ordered rules, first match wins; each rule reads
only what n8n itself records (httpCode, code, name, message, messages, description)."""

import re

# Node.js and axios error codes n8n passes through in httpCode, code or its messages.
TIMEOUT_CODES = ("ECONNABORTED", "ETIMEDOUT", "ESOCKETTIMEDOUT")
NETWORK_CODES = ("ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH", "EPIPE")
# n8n's error classes for a bad expression or parameter value (the workflow's own configuration).
VALIDATION_NAMES = ("ExpressionError", "ExpressionExtensionError", "NodeParameterValueError")
VALIDATION_WORDS = re.compile(r"\b(expression|parameter)\b", re.IGNORECASE)
TIMEOUT_WORDS = re.compile(r"\btimed? ?out\b|\btimeout\b", re.IGNORECASE)
NETWORK_WORDS = re.compile(r"\bunreachable\b|refused the connection|getaddrinfo|DNS", re.IGNORECASE)


def error_facts(error):
    """The parts of an n8n error object the rules look at, as plain strings."""
    error = error or {}
    cause = error.get("cause") if isinstance(error.get("cause"), dict) else {}
    messages = error.get("messages") if isinstance(error.get("messages"), list) else []
    text = " ".join(str(part) for part in [error.get("message"), error.get("description"), *messages,
                                            cause.get("message")] if part)
    codes = {str(c) for c in (error.get("httpCode"), error.get("code"), cause.get("code")) if c not in (None, "")}
    return {"codes": codes, "name": str(error.get("name") or ""), "text": text}


def _http_status(facts):
    return {int(c) for c in facts["codes"] if c.isdigit()}


def _any_code(facts, codes):
    return bool(facts["codes"] & set(codes)) or any(code in facts["text"] for code in codes)


RULES = [
    ("permission", lambda f: bool(_http_status(f) & {401, 403})),
    ("timeout", lambda f: _any_code(f, TIMEOUT_CODES) or bool(TIMEOUT_WORDS.search(f["text"]))),
    ("network", lambda f: _any_code(f, NETWORK_CODES) or bool(NETWORK_WORDS.search(f["text"]))),
    ("validation", lambda f: f["name"] in VALIDATION_NAMES or bool(VALIDATION_WORDS.search(f["text"]))),
]


def infer_error_type(error):
    """Flowtower's error_type for an n8n error object; "unknown" when no rule matches (an HTTP
    5xx answer, an Error thrown in a Code node, …)."""
    facts = error_facts(error)
    for error_type, matches in RULES:
        if matches(facts):
            return error_type
    return "unknown"
