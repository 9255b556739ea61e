from django.urls import path

from alerts import views

urlpatterns = [
    path("alerts/", views.alert_list, name="alert_list"),
    path("alerts/<int:alert_id>/", views.alert_detail, name="alert_detail"),
    path("alerts/<int:alert_id>/ack/", views.alert_ack, name="alert_ack"),
    path("alerts/<int:alert_id>/resolve/", views.alert_resolve, name="alert_resolve"),
    path("alerts/silences/", views.silence_create, name="silence_create"),
    path("alerts/silences/<int:silence_id>/expire/", views.silence_expire, name="silence_expire"),
    path("alerts/settings/", views.alert_settings, name="alert_settings"),
    path("alerts/channels/", views.channel_create, name="channel_create"),
    path("alerts/channels/<int:channel_id>/test/", views.channel_test, name="channel_test"),
    path("alerts/channels/<int:channel_id>/toggle/", views.channel_toggle, name="channel_toggle"),
    path("alerts/channels/<int:channel_id>/delete/", views.channel_delete, name="channel_delete"),
    path("alerts/rules/<int:rule_id>/", views.rule_update, name="alert_rule_update"),
]
