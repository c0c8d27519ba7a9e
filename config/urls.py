from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Flowtower"
admin.site.site_title = "Flowtower"
admin.site.index_title = "Monitoring administration"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/", include("monitoring.api.urls")),
]
