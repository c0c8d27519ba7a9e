"""The email channel, through a real SMTP server (aiosmtpd) on 127.0.0.1: the channel's recipients
get a plain-text message with the alert's link; a server asking to try later is retried, refused
recipients are not."""

import socket
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from alerting_channels_world import alert, deliver, make_channel, workflow  # noqa: F401
from django.conf import settings
from django.core.exceptions import ValidationError
from django.test import override_settings

from alerts.channels import registry


class Mailbox:
    """An SMTP handler keeping what it accepts; `answer_data` / `answer_rcpt` make it refuse."""

    def __init__(self):
        self.envelopes = []
        self.answer_data = self.answer_rcpt = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.answer_rcpt:
            return self.answer_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.answer_data:
            return self.answer_data
        self.envelopes.append(envelope)
        return "250 Message accepted"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def mailbox():
    handler, port = Mailbox(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="127.0.0.1",
                           EMAIL_PORT=port, EMAIL_USE_TLS=False, EMAIL_USE_SSL=False, EMAIL_HOST_USER="",
                           EMAIL_HOST_PASSWORD="", DEFAULT_FROM_EMAIL="alerts@flowtower.example"):
        yield handler
    controller.stop()


@pytest.fixture
def email_channel(make_channel):
    return make_channel("email", config={"to": ["oncall@example.com", "lead@example.com"]})


def test_recipients_get_the_alert_with_its_link(alert, email_channel, mailbox, deliver):
    [done] = deliver(alert, email_channel)
    assert done.status == "sent", done.error
    [envelope] = mailbox.envelopes
    assert envelope.mail_from == "alerts@flowtower.example"
    assert envelope.rcpt_tos == ["oncall@example.com", "lead@example.com"]
    message = message_from_bytes(envelope.content)
    assert message["Subject"] == "[CRITICAL] Order sync failed"
    body = message.get_payload(decode=True).decode()
    assert "3 of the last 4 executions failed." in body and "Workflow: Order sync" in body
    assert f"Open: {settings.FLOWTOWER_BASE_URL}/alerts/{alert.pk}/" in body


@override_settings(FLOWTOWER_DELIVERY_MAX_ATTEMPTS=2)
def test_try_later_is_retried_and_refused_recipients_are_not(alert, email_channel, mailbox, deliver):
    mailbox.answer_data = "451 Greylisted, try again later"
    assert [(d.attempt, d.status, d.response_code) for d in deliver(alert, email_channel)] == [
        (1, "retrying", 451), (2, "failed", 451)]

    email_channel.deliveries.all().delete()
    mailbox.answer_data, mailbox.answer_rcpt = None, "550 No such user"
    [refused] = deliver(alert, email_channel)
    assert refused.status == "failed" and "refused every recipient" in refused.error


def test_an_unreachable_mail_server_is_a_retryable_failure(alert, email_channel, deliver):
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="127.0.0.1",
                           EMAIL_PORT=free_port(), FLOWTOWER_DELIVERY_MAX_ATTEMPTS=2):
        deliveries = deliver(alert, email_channel)
    assert [d.status for d in deliveries] == ["retrying", "failed"]
    assert "could not deliver to the mail server" in deliveries[0].error


@pytest.mark.parametrize("config", [{}, {"to": "oncall@example.com"}, {"to": ["not-an-address"]}, {"to": []}])
def test_recipients_must_be_a_list_of_addresses(config):
    with pytest.raises(ValidationError) as error:
        registry.validate("email", config, {})
    assert "to" in error.value.message_dict
