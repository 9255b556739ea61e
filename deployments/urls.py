from django.urls import path

from deployments import views

urlpatterns = [
    path("", views.timeline, name="timeline"),
    path("deploys/<int:deploy_id>/", views.deploy_detail, name="deploy_detail"),
]
