"""Inhibition: while a workflow has an open critical alert, its warning and info alerts are marked
inhibited and not notified — another workflow's are; when the critical resolves they come through."""

from monitoring.models import Alert

from alerting_notify_world import clock, world  # noqa: F401  (fixtures)


def test_an_open_critical_holds_back_the_warnings_of_its_workflow_only(world):
    critical = world.raise_(key="down", severity="critical")
    warning = world.raise_(key="slow", severity="warning")
    info = world.raise_(key="note", severity="info")
    elsewhere = world.raise_(key="slow", severity="warning", workflow="invoices")
    assert Alert.objects.get(pk=warning.pk).inhibited and Alert.objects.get(pk=info.pk).inhibited
    assert not Alert.objects.get(pk=critical.pk).inhibited  # never by itself
    assert not Alert.objects.get(pk=elsewhere.pk).inhibited
    assert world.sent(warning) == [] and world.sent(info) == []
    assert world.sent(critical) == [("firing", "chat")]
    assert world.sent(elsewhere) == [("firing", "chat")]


def test_a_critical_arriving_later_inhibits_the_warning_already_open(world):
    warning = world.raise_(key="slow", severity="warning")
    assert world.sent(warning) == [("firing", "chat")]
    world.raise_(key="down", severity="critical")
    assert Alert.objects.get(pk=warning.pk).inhibited


def test_when_the_critical_resolves_the_held_back_warning_is_notified(world):
    critical = world.raise_(key="down", severity="critical")
    warning = world.raise_(key="slow", severity="warning")
    world.at(5)
    world.clear(critical)
    assert not Alert.objects.get(pk=warning.pk).inhibited
    assert world.sent(warning) == [("firing", "chat")]
    assert world.sent(critical) == [("firing", "chat"), ("resolved", "chat")]


def test_an_alert_without_a_workflow_is_never_inhibited(world):
    world.raise_(key="down", severity="critical")
    infra = world.raise_(key="disk", severity="warning", workflow=None, source="alertmanager",
                         labels={"alertname": "DiskFull"})
    assert not Alert.objects.get(pk=infra.pk).inhibited
    assert world.sent(infra) == [("firing", "chat")]
