"""Chat channels (Slack, Microsoft Teams, Discord incoming webhooks) post what their services
accept, with the alert's title and the link to its page, to a real local receiver."""

import pytest
from alerting_channels_world import alert, deliver, make_channel, workflow  # noqa: F401
from django.conf import settings

from alerts import messages
from alerts.channels import slack


@pytest.fixture
def receive(make_channel, httpserver, deliver):
    """Deliver `event` of `alert` through a channel of `kind` whose webhook is the local receiver;
    the JSON it received."""

    def run(kind, alert, event="firing"):
        httpserver.expect_request(f"/{kind}", method="POST").respond_with_data("ok")
        channel = make_channel(kind, secrets={"webhook_url": httpserver.url_for(f"/{kind}")})
        [done] = deliver(alert, channel, event)
        assert done.status == "sent", done.error
        request = httpserver.log[-1][0]
        assert request.headers["Content-Type"] == "application/json"
        return request.get_json()

    return run


def test_slack_gets_block_kit_with_a_button_to_the_alert(receive, alert):
    body = receive("slack", alert)
    link = f"{settings.FLOWTOWER_BASE_URL}/alerts/{alert.pk}/"
    assert body["text"] == f"[CRITICAL] Order sync failed {link}"
    assert "*[CRITICAL] Order sync failed*" in body["blocks"][0]["text"]["text"]
    assert body["blocks"][1]["text"]["text"] == "3 of the last 4 executions failed."
    assert "*Workflow:* Order sync" in body["blocks"][2]["elements"][0]["text"]
    assert body["blocks"][-1]["elements"][0]["url"] == link


def test_slack_escapes_its_control_characters(alert):
    alert.title = "<!channel> & <https://evil.example|click>"
    text = slack.payload(messages.build(alert, "firing"))["blocks"][0]["text"]["text"]
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in text


def test_teams_gets_an_adaptive_card_opening_the_alert(receive, alert):
    body = receive("teams", alert, "resolved")
    card = body["attachments"][0]["content"]
    assert body["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["body"][0]["text"] == "[RESOLVED] Order sync failed" and card["body"][0]["color"] == "Good"
    assert card["actions"][0] == {"type": "Action.OpenUrl", "title": "Open in Flowtower",
                                  "url": f"{settings.FLOWTOWER_BASE_URL}/alerts/{alert.pk}/"}


def test_discord_gets_an_embed_and_cannot_mention_everyone(receive, alert):
    alert.title = "@everyone Order sync failed"
    alert.save()
    body = receive("discord", alert, "acknowledged")
    assert body["allowed_mentions"] == {"parse": []}
    embed = body["embeds"][0]
    assert embed["title"] == "[ACKNOWLEDGED] @everyone Order sync failed"
    assert embed["url"] == f"{settings.FLOWTOWER_BASE_URL}/alerts/{alert.pk}/"
    assert {"name": "Workflow", "value": "Order sync", "inline": True} in embed["fields"]
