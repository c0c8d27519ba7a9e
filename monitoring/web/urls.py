from django.contrib.auth import views as auth_views
from django.urls import path

from . import error_groups, views

app_name = "web"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("workflows/", views.workflows, name="workflows"),
    path("workflows/<int:pk>/", views.workflow_detail, name="workflow"),
    path("workflows/<int:pk>/time-saved/", views.set_time_saved, name="set_time_saved"),
    path("executions/<int:pk>/", views.execution_detail, name="execution"),
    path("logs/", views.logs, name="logs"),
    path("errors/", error_groups.group_list, name="errors"),
    path("errors/all/", views.errors, name="error_occurrences"),
    path("errors/groups/<int:pk>/", error_groups.group_detail, name="error_group"),
    path("errors/groups/<int:pk>/<str:action>/", error_groups.group_action, name="error_group_action"),
    path("errors/<uuid:pk>/resolve/", views.resolve_error, name="resolve_error"),
    path("alerts/", views.alerts, name="alerts"),
    path("alerts/<uuid:pk>/<str:action>/", views.alert_action, name="alert_action"),
    path("nav-counts/", views.nav_counts, name="nav_counts"),
]
