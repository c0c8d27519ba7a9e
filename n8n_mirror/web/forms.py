"""The form a team admin connects n8n with: through its public API only (a database path or URL
reads the server's own files or hosts, so only super admins set one, in Django admin or with
`manage.py add_n8n_instance`). The API key is write-only: shown masked, blank keeps the stored one.
The API URL obeys monitoring's outbound-address rule already when it is saved, so an admin hears
at once that an internal address is refused rather than from the first failed sync."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django import forms

from monitoring.outbound import METADATA_ADDRESSES, AddressRefused, allowed_networks, private_allowed

MIN_INTERVAL_S = 5


def _allowed(address):
    """monitoring.outbound's rule for one resolved address: public, or inside the networks the
    install lets through (the metadata service never)."""
    if address in METADATA_ADDRESSES:
        return False
    if address.is_global and not address.is_multicast:
        return True
    return any(address in network for network in allowed_networks())


def refused_address(url):
    """Why Flowtower would refuse to call `url`, or "" when it may. A host that does not resolve
    now is accepted: the sync checks every call again and records what it finds."""
    if private_allowed():
        return ""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return ""
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not _allowed(address):
            return AddressRefused(host, address).explain()
    return ""


class ApiInstanceForm(forms.Form):
    name = forms.CharField(max_length=100)
    api_url = forms.URLField(label="API URL", assume_scheme="https", max_length=200,
                             help_text="n8n's address, e.g. https://n8n.example.com")
    api_key = forms.CharField(label="API key", required=False, max_length=2000,
                              help_text="n8n > Settings > n8n API. Stored encrypted; never shown again in full.")
    enabled = forms.BooleanField(required=False, initial=True)
    interval_seconds = forms.IntegerField(label="Sync every (seconds)", min_value=MIN_INTERVAL_S, initial=30)

    def __init__(self, *args, masked_key="", **kwargs):
        super().__init__(*args, **kwargs)
        self.has_stored_key = bool(masked_key)
        placeholder = f"{masked_key} (unchanged if left blank)" if masked_key else ""
        self.fields["api_key"].widget = forms.PasswordInput(
            attrs={"placeholder": placeholder, "autocomplete": "new-password"})

    def clean_api_url(self):
        url = self.cleaned_data["api_url"]
        if urlsplit(url).scheme not in ("http", "https"):
            raise forms.ValidationError("Must be an http:// or https:// URL.")
        refused = refused_address(url)
        if refused:
            raise forms.ValidationError(refused[:1].upper() + refused[1:] + ".")
        return url

    def clean_api_key(self):
        key = self.cleaned_data["api_key"].strip()
        if not key and not self.has_stored_key:
            raise forms.ValidationError("An API instance needs an API key.")
        return key
