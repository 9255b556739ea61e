from django.urls import path

from tracker import project_views as views

urlpatterns = [
    path("", views.project_settings, name="project_settings"),
    path("tokens/", views.token_create, name="token_create"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke_view, name="token_revoke"),
    path("signing-secrets/", views.signing_secret_create, name="signing_secret_create"),
    path("signing-secrets/<int:secret_id>/revoke/", views.signing_secret_revoke_view, name="signing_secret_revoke"),
    path("signing-required/", views.signing_required, name="signing_required"),
    path("webhooks/<slug:provider>/", views.provider_secret_create, name="provider_secret_create"),
    path("audit/", views.audit_log, name="audit_log"),
]
