from django.urls import path

from metrics.impact import views

urlpatterns = [
    path("services/<str:service_name>/metrics/", views.metric_settings, name="metric_settings"),
    path("services/<str:service_name>/metrics/save", views.metric_setting_update, name="metric_setting_update"),
]
