from django.urls import path

from deployments import api, settings_api, webhooks_api

urlpatterns = [
    path("deploys", api.DeployCollectionApi.as_view(), name="api_deploys"),
    path(
        "services/<str:service_name>/settings", settings_api.ServiceSettingsApi.as_view(), name="api_service_settings"
    ),
    path("webhook-settings", api.HookSettingsApi.as_view(), name="api_webhook_settings"),
    path("webhooks/github/<slug:project_slug>", webhooks_api.GithubWebhookApi.as_view(), name="webhook_github"),
    path("webhooks/gitlab/<slug:project_slug>", webhooks_api.GitlabWebhookApi.as_view(), name="webhook_gitlab"),
    path("webhooks/mlflow/<slug:project_slug>", webhooks_api.MlflowWebhookApi.as_view(), name="webhook_mlflow"),
]
