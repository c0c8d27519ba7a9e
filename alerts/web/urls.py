from django.urls import path

from . import alert_page, channels, rules, views

app_name = "alerting"

urlpatterns = [
    # /alerts/<uuid>/ is the link every notification carries; monitoring's actions on an alert
    # are /alerts/<uuid>/<action>/ (web:alert_action), one segment longer.
    path("alerts/<uuid:pk>/", alert_page.alert_page, name="alert"),
    path("alerts/<uuid:pk>/silence/", alert_page.silence_alert, name="alert_silence"),
    path("rules/", rules.rules, name="rules"),
    path("rules/new/", rules.rule_new, name="rules_new"),
    path("rules/<int:pk>/", rules.rule_edit, name="rules_edit"),
    path("rules/<int:pk>/delete/", rules.rule_delete, name="rules_delete"),
    path("channels/", channels.channels, name="channels"),
    path("channels/new/", channels.channel_new, name="channels_new"),
    path("channels/<int:pk>/", channels.channel_edit, name="channels_edit"),
    path("channels/<int:pk>/delete/", channels.channel_delete, name="channels_delete"),
    path("channels/<int:pk>/test/", channels.channel_test, name="channels_test"),
    path("routes/", views.routes, name="routes"),
    path("routes/new/", views.route_new, name="routes_new"),
    path("routes/<int:pk>/", views.route_edit, name="routes_edit"),
    path("routes/<int:pk>/delete/", views.route_delete, name="routes_delete"),
    path("silences/", views.silences_page, name="silences"),
    path("silences/new/", views.silence_new, name="silences_new"),
    path("silences/<int:pk>/", views.silence_edit, name="silences_edit"),
    path("silences/<int:pk>/expire/", views.silence_expire, name="silences_expire"),
    path("silences/<int:pk>/delete/", views.silence_delete, name="silences_delete"),
]
