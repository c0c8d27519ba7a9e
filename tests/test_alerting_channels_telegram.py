"""The Telegram channel (Bot API base pointed at a local receiver): sendMessage to the chat, HTML
with everything from the alert escaped and a link to its page; the bot token, which travels in the
URL path, never shows in a recorded error."""

import pytest
from alerting_channels_world import alert, deliver, make_channel, workflow  # noqa: F401
from django.conf import settings
from django.core.exceptions import ValidationError

from alerts.channels import registry

BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.fixture
def telegram(make_channel, httpserver):
    return make_channel("telegram", config={"chat_id": "-1001234567890", "api_base": httpserver.url_for("")},
                        secrets={"bot_token": BOT_TOKEN})


def test_the_bot_sends_an_escaped_html_message_with_the_link(alert, telegram, httpserver, deliver):
    httpserver.expect_request(f"/bot{BOT_TOKEN}/sendMessage", method="POST").respond_with_json({"ok": True})
    alert.title = "Order <sync> failed & retried"
    alert.save()
    [done] = deliver(alert, telegram)
    assert done.status == "sent", done.error
    message = httpserver.log[-1][0].get_json()
    assert message["chat_id"] == "-1001234567890" and message["parse_mode"] == "HTML"
    assert message["text"].startswith("<b>[CRITICAL] Order &lt;sync&gt; failed &amp; retried</b>")
    assert f'<a href="{settings.FLOWTOWER_BASE_URL}/alerts/{alert.pk}/">Open in Flowtower</a>' in message["text"]


def test_a_refused_token_is_not_retried_and_not_shown(alert, telegram, httpserver, deliver):
    httpserver.expect_request(f"/bot{BOT_TOKEN}/sendMessage").respond_with_json(
        {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
    [failed] = deliver(alert, telegram)
    assert (failed.status, failed.response_code) == ("failed", 401)
    assert "Unauthorized" in failed.response_excerpt
    assert BOT_TOKEN not in failed.error + failed.response_excerpt


@pytest.mark.parametrize("config, secrets, field", [
    ({"chat_id": "not a chat"}, {"bot_token": BOT_TOKEN}, "chat_id"),
    ({"chat_id": "42"}, {"bot_token": "hunter2"}, "bot_token"),
    ({"chat_id": "42", "api_base": "ftp://bots.example"}, {"bot_token": BOT_TOKEN}, "api_base"),
    ({}, {"bot_token": BOT_TOKEN}, "chat_id"),
])
def test_invalid_settings_name_their_field(config, secrets, field):
    with pytest.raises(ValidationError) as error:
        registry.validate("telegram", config, secrets)
    assert field in error.value.message_dict
