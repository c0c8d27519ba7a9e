"""The log channel (the demo's): each notification is a line on the `alerts.notifications` logger,
at WARNING so the demo's log level shows it, with the alert's title and link."""

import logging

from alerting_channels_world import alert, deliver, make_channel, workflow  # noqa: F401
from django.conf import settings


def test_notifications_are_logged_with_title_and_link(alert, make_channel, deliver, caplog):
    channel = make_channel("log")
    with caplog.at_level(logging.INFO, logger="alerts.notifications"):
        [done] = deliver(alert, channel)
        deliver(alert, channel, "resolved")
    assert done.status == "sent"
    lines = [r for r in caplog.records if r.name == "alerts.notifications"]
    assert [r.levelno for r in lines] == [logging.WARNING, logging.WARNING]
    link = f"{settings.FLOWTOWER_BASE_URL}/alerts/{alert.pk}/"
    assert lines[0].getMessage() == f"[CRITICAL] Order sync failed | {link}"
    assert lines[1].getMessage().startswith("[RESOLVED] Order sync failed")
    assert lines[0].team == "Acme" and lines[0].event == "firing"
