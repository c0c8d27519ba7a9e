"""The outbound-address rule for every HTTP call Flowtower makes to a URL a user typed (alerting
channels, an n8n instance's API): a team admin must not make the server call its own network.

- requests-hardened resolves the host, refuses loopback, private, link-local, CGNAT, multicast and
  other internal addresses (the metadata service 169.254.169.254 / fd00:ec2::254 among them), and
  connects to exactly the address it checked, so a second DNS answer cannot slip past it. Every
  redirect hop is a new request through the same filter. settings.FLOWTOWER_ALLOW_PRIVATE_OUTBOUND
  lifts the filter (a local install, the tests); FLOWTOWER_OUTBOUND_ALLOWED_NETWORKS lets chosen
  networks through while the rest stays refused.
- No proxies or .netrc from the environment (they would send credentials or traffic where the URL
  does not say).

`hardened_session` gives such a session; `AddressRefused` is what it raises for an internal
address (a requests.RequestException naming the host and the address)."""

import ipaddress
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests_hardened import Config, HTTPSession
from requests_hardened.ip_filter import InvalidIPAddress
from requests_hardened.ip_filter_adapter import IPFilterAdapter

MAX_REDIRECTS = 3
# Cloud metadata services: refused even inside FLOWTOWER_OUTBOUND_ALLOWED_NETWORKS.
METADATA_ADDRESSES = {ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")}


def private_allowed():
    return bool(settings.FLOWTOWER_ALLOW_PRIVATE_OUTBOUND)


def allowed_networks():
    return [ipaddress.ip_network(net.strip(), strict=False)
            for net in settings.FLOWTOWER_OUTBOUND_ALLOWED_NETWORKS if net.strip()]


def hardened_session(timeout, user_agent, max_redirects=MAX_REDIRECTS):
    """A requests-hardened session: its IP filter on both schemes unless private outbound is allowed,
    redirects followed (each hop filtered again) up to max_redirects, nothing from the environment."""
    session = HTTPSession(Config(
        ip_filter_enable=False, ip_filter_allow_loopback_ips=False, never_redirect=False,
        default_timeout=(timeout, timeout), user_agent_override=user_agent,
    ))
    session.trust_env = False
    session.max_redirects = max_redirects
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
                raise AddressRefused(host, address) from None
        # An allowed private address: what the parent does, pinned to the address it resolved.
        host_params, pool_kwargs = HTTPAdapter.build_connection_pool_key_attributes(self, request, verify, cert)
        if self._is_https_proto:
            pool_kwargs["assert_hostname"] = pool_kwargs["server_hostname"] = host_params["host"]
        host_params["host"] = str(address) if address.version == 4 else f"[{address}]"
        return host_params, pool_kwargs


class AddressRefused(requests.RequestException):
    def __init__(self, host, address):
        super().__init__(host, address)
        self.host, self.address = host, address

    def explain(self):
        address = str(self.address)
        where = address if self.host == address else f"{self.host} resolves to {address}, which"
        return (f"refused: {where} is a loopback, private, link-local or other internal address; Flowtower does not "
                f"call those (FLOWTOWER_ALLOW_PRIVATE_OUTBOUND allows them on a local install)")
