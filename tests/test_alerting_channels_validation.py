"""Channel kinds behind one registry: every kind declares its fields, validates a config and secrets
with errors naming the field, and a channel is saved (secrets encrypted) only when valid."""

import pytest
from alerting_channels_world import make_channel  # noqa: F401
from django.core.exceptions import ValidationError
from django.test import override_settings

from alerts import delivery
from alerts.channels import registry

# One valid configuration per kind.
VALID = {
    "log": ({}, {}),
    "email": ({"to": ["oncall@example.com"]}, {}),
    "slack": ({}, {"webhook_url": "https://hooks.slack.com/services/T0/B0/X0"}),
    "teams": ({}, {"webhook_url": "https://example.webhook.office.com/webhookb2/abc"}),
    "discord": ({}, {"webhook_url": "https://discord.com/api/webhooks/1/abc"}),
    "webhook": ({}, {"url": "https://example.com/hook", "signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
    "pagerduty": ({}, {"routing_key": "R0UT1NGKEY0123456789ABCDEFGHIJKL"}),
    "telegram": ({"chat_id": "-100123"}, {"bot_token": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"}),
    "apprise": ({}, {"url": "discord://123456789/abcdefghijklmnop"}),
}


def test_every_kind_is_registered_with_its_interface():
    assert set(registry.KINDS) == set(VALID)
    for kind, module in registry.KINDS.items():
        assert module.kind == kind and module.label
        assert all(f.name and f.label for f in (*module.config_fields, *module.secret_fields))
        assert callable(module.validate) and callable(module.send)
    assert ("slack", "Slack") in registry.choices()


@override_settings(FLOWTOWER_ALLOW_PRIVATE_OUTBOUND=False)
@pytest.mark.parametrize("kind", sorted(VALID))
def test_valid_settings_pass_and_missing_required_ones_are_named(kind):
    config, secrets = VALID[kind]
    registry.validate(kind, config, secrets)
    module = registry.get(kind)
    for field in (*module.config_fields, *module.secret_fields):
        if field.required:
            broken_config = {k: v for k, v in config.items() if k != field.name}
            broken_secrets = {k: v for k, v in secrets.items() if k != field.name}
            with pytest.raises(ValidationError) as error:
                registry.validate(kind, broken_config, broken_secrets)
            assert error.value.message_dict[field.name] == ["This field is required."]


@override_settings(FLOWTOWER_ALLOW_PRIVATE_OUTBOUND=False)
@pytest.mark.parametrize("kind, field", [("slack", "webhook_url"), ("teams", "webhook_url"),
                                         ("discord", "webhook_url"), ("webhook", "url")])
def test_webhook_urls_must_be_https_urls(kind, field):
    config, secrets = VALID[kind]
    for bad in ("not a url", "javascript:alert(1)", "http://hooks.example.com/x"):
        with pytest.raises(ValidationError) as error:
            registry.validate(kind, config, {**secrets, field: bad})
        assert field in error.value.message_dict


def test_unknown_kinds_and_fields_are_named():
    with pytest.raises(ValidationError) as error:
        registry.validate("carrier-pigeon", {}, {})
    assert "kind" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        registry.validate("slack", {"colour": "red"}, VALID["slack"][1])
    assert error.value.message_dict == {"colour": ["Unknown config field."]}
    with pytest.raises(ValidationError) as error:
        registry.validate("slack", [], {})
    assert "config" in error.value.message_dict


def test_configure_channel_saves_only_a_valid_channel_and_keeps_secrets_left_out(make_channel):
    channel = make_channel("slack", secrets=VALID["slack"][1])
    with pytest.raises(ValidationError):
        delivery.configure_channel(channel, secrets={"webhook_url": "not a url"})
    channel.refresh_from_db()
    assert delivery.channel_secrets(channel) == VALID["slack"][1]

    channel.kind = "discord"
    delivery.configure_channel(channel, secrets={"webhook_url": "https://discord.com/api/webhooks/2/x"},
                               partial_secrets=False)
    channel.refresh_from_db()
    assert (channel.kind, delivery.channel_secrets(channel)) == (
        "discord", {"webhook_url": "https://discord.com/api/webhooks/2/x"})
