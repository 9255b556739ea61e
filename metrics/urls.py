from django.urls import include, path

urlpatterns = [
    path("", include("metrics.drift.urls")),
    path("", include("metrics.impact.urls")),
]
