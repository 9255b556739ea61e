from django.urls import include, path

urlpatterns = [
    path("", include("metrics.drift.urls")),
]
