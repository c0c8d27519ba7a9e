"""Every HTTP call Flowtower makes to a user-supplied URL (webhooks, Slack, Teams, Discord,
PagerDuty, Telegram) goes through `request` here, because those URLs are user input: a team admin
must not make the server call its own network.

- the address rule is monitoring.outbound's (shared with the n8n mirror): internal addresses
  refused, connections pinned to the checked address, every redirect hop filtered again, unless
  settings.FLOWTOWER_ALLOW_PRIVATE_OUTBOUND / FLOWTOWER_OUTBOUND_ALLOWED_NETWORKS say otherwise.
- Only http:// and https://; no proxies or .netrc from the environment (they would send
  credentials or traffic where the URL does not say).
- Short timeouts (settings.FLOWTOWER_DELIVERY_TIMEOUT), and the answer is read only up to a few
  kilobytes: callers get the status code and a bounded text excerpt, never more.
- Error messages name the host, never the URL: webhook URLs carry their secret in the path."""

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
from django.conf import settings

from monitoring.outbound import (  # noqa: F401  (re-exported: the rule is monitoring's)
    MAX_REDIRECTS,
    METADATA_ADDRESSES,
    AddressRefused,
    allowed_networks,
    hardened_session,
    private_allowed,
)

EXCERPT_CHARS = 500
READ_BYTES = 4096
USER_AGENT = "Flowtower-Alerting/1.0"
TEXT_TYPES = ("text/", "application/json", "application/problem+json", "application/xml", "+json", "+xml")


@dataclass(frozen=True)
class Response:
    status_code: int
    excerpt: str  # at most EXCERPT_CHARS characters of a text answer; "" otherwise
    retry_after: float | None = None  # seconds, when the receiver said (429, 503)


class OutboundError(Exception):
    """The call did not get an answer. `retryable`: a timeout or connection failure may pass; a
    refused address or a bad URL will not."""

    retryable = True

    def __init__(self, message, *, retryable=None):
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable


class OutboundRefused(OutboundError):
    """Flowtower will not call this URL (scheme, or an internal address)."""

    retryable = False


def request(method, url, *, json=None, data=None, headers=None):
    """Send one request to a user-supplied URL and return its status code and a bounded excerpt of
    the answer; OutboundError (OutboundRefused for URLs Flowtower will not call) otherwise."""
    host = check_url(url)
    timeout = settings.FLOWTOWER_DELIVERY_TIMEOUT
    try:
        with _session(timeout) as session:
            answer = session.request(method, url, json=json, data=data, headers=headers, stream=True,
                                     timeout=(timeout, timeout))
            with answer:
                return Response(answer.status_code, _excerpt(answer, timeout), _retry_after(answer))
    except requests.RequestException as error:
        raise _explained(error, host, timeout) from None


def check_url(url):
    """The URL's host, or OutboundRefused when it is not an http(s) URL with a host."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises on a malformed port)
    except (ValueError, AttributeError, TypeError):
        raise OutboundRefused("not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise OutboundRefused("only http:// and https:// URLs are called")
    if not host:
        raise OutboundRefused("the URL has no host")
    return host


def _session(timeout):
    return hardened_session(timeout, USER_AGENT, MAX_REDIRECTS)


def _explained(error, host, timeout):
    """An OutboundError saying what went wrong in words that name the host, never the URL."""
    if isinstance(error, AddressRefused):
        return OutboundRefused(error.explain())
    if isinstance(error, (requests.exceptions.InvalidSchema, requests.exceptions.MissingSchema,
                          requests.exceptions.InvalidURL)):
        return OutboundRefused("refused: a redirect or URL that is not http:// or https://")
    if isinstance(error, requests.TooManyRedirects):
        return OutboundError(f"more than {MAX_REDIRECTS} redirects from {host}", retryable=False)
    if isinstance(error, requests.Timeout):
        return OutboundError(f"no answer from {host} within {timeout:g} s (timed out)")
    if isinstance(error, requests.exceptions.SSLError):
        return OutboundError(f"TLS error talking to {host} (certificate or protocol)", retryable=False)
    if isinstance(error, requests.ConnectionError):
        return OutboundError(f"could not connect to {host}")
    return OutboundError(f"request to {host} failed ({type(error).__name__})")


def _excerpt(answer, timeout):
    """At most EXCERPT_CHARS characters of a text answer, read within the timeout; "" for other
    content (images, binaries), so nothing but short text reaches the UI."""
    content_type = answer.headers.get("Content-Type", "text/plain").split(";")[0].strip().lower()
    if not any(content_type.startswith(t) or content_type.endswith(t) for t in TEXT_TYPES):
        return ""
    body = bytearray()
    deadline = time.monotonic() + timeout
    try:
        for chunk in answer.iter_content(chunk_size=1024):
            body += chunk
            if len(body) >= READ_BYTES or time.monotonic() > deadline:
                break
    except requests.RequestException:
        pass  # the status code is the answer; the body was a courtesy
    text = bytes(body[:READ_BYTES]).decode(answer.encoding or "utf-8", errors="replace")
    printable = "".join(c if c.isprintable() or c in "\n\t" else " " for c in text)
    return printable.strip()[:EXCERPT_CHARS]


def _retry_after(answer):
    """Retry-After (seconds or an HTTP date) as seconds, if the receiver sent one."""
    value = answer.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
