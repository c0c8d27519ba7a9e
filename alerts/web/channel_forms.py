"""The channel form, drawn from the chosen kind's own field list (alerts/channels/<kind>: config
fields shown, secret fields encrypted and never shown back). A stored secret left blank keeps its
value; the masked value is its placeholder. Whether the values are acceptable is the kind's
validate(config, secrets), which the view calls and whose errors land on these fields."""

import re

from django import forms

from ..channels import registry

CONFIG, SECRET = "config_", "secret_"


def _text(f, **kwargs):
    return forms.CharField(**kwargs)


def _url(f, **kwargs):
    kwargs.setdefault("widget", forms.URLInput())
    return forms.CharField(**kwargs)


def _email_list(f, **kwargs):
    kwargs["help_text"] = f"{f.help} Separate them with commas." if f.help else "Comma-separated addresses."
    return forms.CharField(**kwargs)


def _choice(f, **kwargs):
    kwargs.pop("max_length", None)
    return forms.ChoiceField(choices=[("", "–")] + [(c, c) if isinstance(c, str) else c for c in f.choices], **kwargs)


# A kind's field type -> the form field that edits it; lists are typed comma-separated.
FIELD_TYPES = {"text": _text, "url": _url, "email_list": _email_list, "choice": _choice}
LIST_TYPES = {"email_list"}


def form_field(f, *, secret, masked=None):
    kwargs = {"label": f.label, "required": f.required and not masked, "help_text": f.help, "max_length": 2000}
    if secret:
        placeholder = f"{masked} (unchanged if left blank)" if masked else ""
        kwargs["widget"] = forms.PasswordInput(attrs={"placeholder": placeholder, "autocomplete": "new-password"})
    field = FIELD_TYPES.get(f.type, _text)(f, **kwargs)
    if secret and not field.help_text:
        field.help_text = "Stored encrypted; never shown again in full."
    return field


class ChannelForm(forms.Form):
    name = forms.CharField(max_length=100)
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, kind, masked=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.masked = masked or {}
        for f in kind.config_fields:
            self.fields[CONFIG + f.name] = form_field(f, secret=False)
        for f in kind.secret_fields:
            self.fields[SECRET + f.name] = form_field(f, secret=True, masked=self.masked.get(f.name))

    @staticmethod
    def initial_from(channel):
        initial = {"name": channel.name, "enabled": channel.enabled}
        for f in registry.get(channel.kind).config_fields:
            value = (channel.config or {}).get(f.name, "")
            initial[CONFIG + f.name] = ", ".join(value) if isinstance(value, list) else value
        return initial

    def _values(self, prefix, fields):
        out = {}
        for f in fields:
            value = self.cleaned_data.get(prefix + f.name)
            if f.type in LIST_TYPES:
                value = [part for part in re.split(r"[,\s;]+", value or "") if part]
            if value not in ("", None, []):
                out[f.name] = value
        return out

    def config(self):
        return self._values(CONFIG, self.kind.config_fields)

    def secrets(self):
        """The secrets typed; one left blank is not among them (the stored value stays)."""
        return self._values(SECRET, self.kind.secret_fields)

    def field_names(self):
        """Kind field name -> form field name, for putting the kind's validation errors in place."""
        names = {f.name: CONFIG + f.name for f in self.kind.config_fields}
        names.update({f.name: SECRET + f.name for f in self.kind.secret_fields})
        return names
