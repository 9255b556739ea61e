from django.urls import path

from alerts import api

urlpatterns = [
    path("alerts", api.AlertListApi.as_view(), name="api_alerts"),
    path("alerts/<int:alert_id>/ack", api.AlertAckApi.as_view(), name="api_alert_ack"),
    path("alerts/<int:alert_id>/resolve", api.AlertResolveApi.as_view(), name="api_alert_resolve"),
    path("silences", api.SilenceCollectionApi.as_view(), name="api_silences"),
    path("silences/<int:silence_id>", api.SilenceExpireApi.as_view(), name="api_silence_expire"),
    path("channels", api.ChannelCollectionApi.as_view(), name="api_channels"),
    path("channels/<int:channel_id>", api.ChannelDetailApi.as_view(), name="api_channel_detail"),
    path("channels/<int:channel_id>/test", api.ChannelTestApi.as_view(), name="api_channel_test"),
    path("status-writeback/<str:provider>", api.StatusWritebackApi.as_view(), name="api_status_writeback"),
    path("alert-rules", api.RuleCollectionApi.as_view(), name="api_alert_rules"),
    path("alert-rules/<int:rule_id>", api.RuleDetailApi.as_view(), name="api_alert_rule_detail"),
]
