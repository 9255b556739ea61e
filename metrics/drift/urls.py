from django.urls import path

from metrics.drift import views

urlpatterns = [
    path("services/<str:service_name>/columns/", views.service_columns, name="service_columns"),
    path("services/<str:service_name>/drift-settings/", views.service_drift_settings, name="service_drift_settings"),
]
