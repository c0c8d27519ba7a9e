"""Every HTTP call Flowtower makes to a user-supplied URL (webhooks, Slack, Teams, Discord,
PagerDuty, Telegram) goes through `request` here, because those URLs are user input: a team admin
must not make the server call its own network.

- requests-hardened resolves the host, refuses loopback, private, link-local, CGNAT, multicast and
  other internal addresses (the metadata service 169.254.169.254 / fd00:ec2::254 among them), and
  connects to exactly the address it checked, so a second DNS answer cannot slip past it. Every
  redirect hop is a new request through the same filter. settings.FLOWTOWER_ALLOW_PRIVATE_OUTBOUND
  lifts the filter (a local install, the tests); FLOWTOWER_OUTBOUND_ALLOWED_NETWORKS lets chosen
  networks through while the rest stays refused.
- Only http:// and https://; no proxies or .netrc from the environment (they would send
  credentials or traffic where the URL does not say).
- Short timeouts (settings.FLOWTOWER_DELIVERY_TIMEOUT), and the answer is read only up to a few
  kilobytes: callers get the status code and a bounded text excerpt, never more.
- Error messages name the host, never the URL: webhook URLs carry their secret in the path."""

import ipaddress
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests_hardened import Config, HTTPSession
from requests_hardened.ip_filter import InvalidIPAddress
from requests_hardened.ip_filter_adapter import IPFilterAdapter

EXCERPT_CHARS = 500
READ_BYTES = 4096
MAX_REDIRECTS = 3
USER_AGENT = "Flowtower-Alerting/1.0"
# Cloud metadata services: refused even inside FLOWTOWER_OUTBOUND_ALLOWED_NETWORKS.
METADATA_ADDRESSES = {ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")}
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


def private_allowed():
    return bool(settings.FLOWTOWER_ALLOW_PRIVATE_OUTBOUND)


def allowed_networks():
    return [ipaddress.ip_network(net.strip(), strict=False)
            for net in settings.FLOWTOWER_OUTBOUND_ALLOWED_NETWORKS if net.strip()]


def _session(timeout):
    """A requests-hardened session: its IP filter on both schemes unless private outbound is allowed,
    redirects followed (each hop filtered again) up to MAX_REDIRECTS, nothing from the environment."""
    session = HTTPSession(Config(
        ip_filter_enable=False, ip_filter_allow_loopback_ips=False, never_redirect=False,
        default_timeout=(timeout, timeout), user_agent_override=USER_AGENT,
    ))
    session.trust_env = False
    session.max_redirects = MAX_REDIRECTS
    if not private_allowed():
        networks = allowed_networks()
        session.mount("http://", _FilterAdapter(is_https_proto=False, networks=networks))
        session.mount("https://", _FilterAdapter(is_https_proto=True, networks=networks))
    return session


class _FilterAdapter(IPFilterAdapter):
    """requests-hardened's filter adapter (resolve, refuse internal addresses, pin the connection to
    the checked address), letting through addresses in FLOWTOWER_OUTBOUND_ALLOWED_NETWORKS (never the
    metadata service). Refusals carry the host so the error can name it."""

    def __init__(self, *, is_https_proto, networks):
        super().__init__(is_https_proto=is_https_proto, allow_loopback=False)
        self._networks = networks

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        try:
            return super().build_connection_pool_key_attributes(request, verify, cert)
        except InvalidIPAddress as refused:
            address = refused.args[0]
            host = urlsplit(request.url).hostname
            if address in METADATA_ADDRESSES or not any(address in net for net in self._networks):
                raise _AddressRefused(host, address) from None
        # An allowed private address: what the parent does, pinned to the address it resolved.
        host_params, pool_kwargs = HTTPAdapter.build_connection_pool_key_attributes(self, request, verify, cert)
        if self._is_https_proto:
            pool_kwargs["assert_hostname"] = pool_kwargs["server_hostname"] = host_params["host"]
        host_params["host"] = str(address) if address.version == 4 else f"[{address}]"
        return host_params, pool_kwargs


class _AddressRefused(requests.RequestException):
    def __init__(self, host, address):
        super().__init__(host, address)
        self.host, self.address = host, address


def _explained(error, host, timeout):
    """An OutboundError saying what went wrong in words that name the host, never the URL."""
    if isinstance(error, _AddressRefused):
        address = str(error.address)
        where = address if error.host == address else f"{error.host} resolves to {address}, which"
        return OutboundRefused(
            f"refused: {where} is a loopback, private, link-local or other internal address; Flowtower does not "
            f"call those (FLOWTOWER_ALLOW_PRIVATE_OUTBOUND allows them on a local install)"
        )
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
