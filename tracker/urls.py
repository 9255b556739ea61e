from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from tracker import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="prometheus"),
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's init script from ?script, not inline (the CSP allows no inline script).
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="tracker/swagger_ui.html"),
        name="swagger",
    ),
    path("api/v1/", include("deployments.api_urls")),
    path("api/v1/", include("metrics.drift.api_urls")),
    path("api/v1/", include("metrics.impact.api_urls")),
    path("api/v1/", include("metrics.sources.api_urls")),
    path("api/v1/", include("metrics.shadow.api_urls")),
    path("api/v1/", include("rollbacks.api_urls")),
    path("api/v1/", include("alerts.api_urls")),
    path("api/v1/", include("dashboard.api_urls")),
    # The demo's own alert and CI receiver (serves the demo project only).
    path("demo-receiver/", include("demo.urls")),
    path("", views.home, name="home"),
    # Project pages last: their first path segment is the project slug.
    path("<slug:project_slug>/settings/", include("tracker.project_urls")),
    path("<slug:project_slug>/", include("deployments.urls")),
    path("<slug:project_slug>/", include("metrics.drift.urls")),
    path("<slug:project_slug>/", include("metrics.impact.urls")),
    path("<slug:project_slug>/", include("metrics.sources.urls")),
    path("<slug:project_slug>/", include("alerts.urls")),
    path("<slug:project_slug>/", include("rollbacks.urls")),
    path("<slug:project_slug>/", include("dashboard.urls")),
]
