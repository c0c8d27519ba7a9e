from django.urls import path

from . import views

app_name = "n8n"

urlpatterns = [
    path("n8n/", views.instances, name="instances"),
    path("n8n/new/", views.instance_new, name="instances_new"),
    path("n8n/<int:pk>/", views.instance_edit, name="instances_edit"),
    path("n8n/<int:pk>/enable/", views.instance_enable, name="instances_enable"),
    path("n8n/<int:pk>/delete/", views.instance_delete, name="instances_delete"),
    path("n8n/<int:pk>/sync/", views.instance_sync, name="instances_sync"),
    path("n8n/<int:pk>/hook-token/", views.instance_hook_token, name="instances_hook_token"),
]
