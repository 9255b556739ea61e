from django.urls import include, path

urlpatterns = [
    path("", include("metrics.drift.api_urls")),
    path("", include("metrics.impact.api_urls")),
]
