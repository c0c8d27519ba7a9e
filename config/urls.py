from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Flowtower"
admin.site.site_title = "Flowtower"
admin.site.index_title = "Monitoring administration"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("monitoring.api.urls")),
    path("", include("monitoring.web.urls")),
]
