"""The apprise channel: apprise makes its own network calls, outside the outbound address filter,
so with FLOWTOWER_ALLOW_PRIVATE_OUTBOUND off only vendor-hosted services are accepted and schemes
that post to a host named in the URL (json://, xml://, form://, …) are refused, when the channel is
saved and again when it sends. With it on, apprise reaches a local receiver."""

import pytest
from alerting_channels_world import alert, deliver, make_channel, workflow  # noqa: F401
from django.core.exceptions import ValidationError
from django.test import override_settings

from alerts.channels import registry

PRIVATE_OFF = override_settings(FLOWTOWER_ALLOW_PRIVATE_OUTBOUND=False)


@PRIVATE_OFF
@pytest.mark.parametrize("url", ["json://127.0.0.1:8000/hook", "jsons://internal.example/hook", "xml://10.0.0.5/",
                                 "form://169.254.169.254/latest", "gotify://gotify.internal/token",
                                 "mailto://user:pass@smtp.internal"])
def test_schemes_posting_to_a_host_of_the_urls_choice_are_refused(url):
    with pytest.raises(ValidationError) as error:
        registry.validate("apprise", {}, {"url": url})
    assert "webhook channel" in error.value.message_dict["url"][0]


@PRIVATE_OFF
@pytest.mark.parametrize("url", ["discord://123456789/abcdefghijklmnopqrstuvwxyz",
                                 "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-100123",
                                 "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"])
def test_vendor_hosted_services_are_accepted(url):
    registry.validate("apprise", {}, {"url": url})


def test_urls_apprise_does_not_know_are_refused():
    with pytest.raises(ValidationError) as error:
        registry.validate("apprise", {}, {"url": "nosuchservice://whatever"})
    assert error.value.message_dict == {"url": ["Not an apprise URL apprise understands."]}


def test_with_private_outbound_allowed_apprise_reaches_the_local_receiver(alert, make_channel, httpserver, deliver):
    httpserver.expect_request("/apprise", method="POST").respond_with_data("ok")
    url = "json://" + httpserver.url_for("/apprise").split("://", 1)[1]
    channel = make_channel("apprise", secrets={"url": url})
    [done] = deliver(alert, channel)
    assert done.status == "sent", done.error
    body = httpserver.log[-1][0].get_json()
    assert body["title"] == "[CRITICAL] Order sync failed"
    assert f"/alerts/{alert.pk}/" in body["message"] and body["type"] == "failure"

    with PRIVATE_OFF:  # the same channel, once private outbound is off: refused before apprise runs
        [*_, refused] = deliver(alert, channel)
    assert refused.status == "failed" and "webhook channel" in refused.error
    assert len(httpserver.log) == 1


@override_settings(FLOWTOWER_DELIVERY_MAX_ATTEMPTS=1)
def test_a_failed_apprise_send_is_recorded_without_the_url(alert, make_channel, httpserver, deliver):
    httpserver.expect_request("/apprise/SECRET-PART").respond_with_data("nope", status=404)
    url = "json://" + httpserver.url_for("/apprise/SECRET-PART").split("://", 1)[1]
    [failed] = deliver(alert, make_channel("apprise", secrets={"url": url}))
    assert failed.status == "failed" and failed.response_code == 404
    assert "SECRET-PART" not in failed.error
