"""The generic webhook channel: a JSON body signed per Standard Webhooks, which a receiver verifies
with the standardwebhooks library and the shared signing secret exactly as docs/alerting.md says;
a changed body or another secret does not verify."""

import pytest
from alerting_channels_world import alert, deliver, make_channel, workflow  # noqa: F401
from django.conf import settings
from django.core.exceptions import ValidationError
from django.test import override_settings
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from alerts.channels import registry, webhook

SIGNING_SECRET = webhook.generate_signing_secret()


@pytest.fixture
def received(alert, make_channel, httpserver, deliver):
    """The request a webhook channel made for the firing alert."""
    httpserver.expect_request("/flowtower", method="POST").respond_with_data("", status=204)
    channel = make_channel("webhook", secrets={"url": httpserver.url_for("/flowtower"),
                                               "signing_secret": SIGNING_SECRET})
    [done] = deliver(alert, channel)
    assert (done.status, done.response_code) == ("sent", 204)
    return httpserver.log[-1][0]


def test_the_receiver_verifies_the_signature_and_reads_the_alert(received, alert):
    payload = Webhook(SIGNING_SECRET).verify(received.get_data(), dict(received.headers))
    assert payload["type"] == "alert.firing"
    data = payload["data"]
    assert data["alert_id"] == str(alert.pk) and data["title"] == "[CRITICAL] Order sync failed"
    assert data["severity"] == "critical" and data["status"] == "firing" and data["workflow_name"] == "Order sync"
    assert data["link"] == f"{settings.FLOWTOWER_BASE_URL}/alerts/{alert.pk}/"
    assert data["labels"] == {"rule": "7"} and data["occurrences"] == 1
    assert received.headers["webhook-id"].startswith("msg_")


def test_a_changed_body_or_another_secret_does_not_verify(received):
    headers = dict(received.headers)
    tampered = received.get_data().replace(b"critical", b"info")
    with pytest.raises(WebhookVerificationError):
        Webhook(SIGNING_SECRET).verify(tampered, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(webhook.generate_signing_secret()).verify(received.get_data(), headers)


@pytest.mark.parametrize("secret, message", [
    ("plain-password", "whsec_"),
    ("whsec_not base64!", "base64"),
    ("whsec_c2hvcnQ=", "24 to 64"),
])
def test_signing_secrets_must_be_standard_webhooks_secrets(secret, message):
    with pytest.raises(ValidationError) as error:
        registry.validate("webhook", {}, {"url": "https://example.com/hook", "signing_secret": secret})
    assert message in error.value.message_dict["signing_secret"][0]


@override_settings(FLOWTOWER_ALLOW_PRIVATE_OUTBOUND=False)
def test_webhook_urls_must_be_https_unless_private_outbound_is_allowed():
    secrets = {"url": "http://example.com/hook", "signing_secret": SIGNING_SECRET}
    with pytest.raises(ValidationError) as error:
        registry.validate("webhook", {}, secrets)
    assert error.value.message_dict == {"url": ["Must be an https:// URL."]}
    registry.validate("webhook", {}, {**secrets, "url": "https://example.com/hook"})
    with override_settings(FLOWTOWER_ALLOW_PRIVATE_OUTBOUND=True):
        registry.validate("webhook", {}, secrets)
