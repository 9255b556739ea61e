from django.urls import path

from dashboard import views

urlpatterns = [
    path("", views.timeline, name="timeline"),
    path("deploys/<int:deploy_id>/", views.deploy_detail, name="deploy_detail"),
    path("dora/", views.dora, name="dora"),
    path("compare/", views.compare_pick, name="compare_pick"),
    path("compare/<int:a_id>/<int:b_id>/", views.compare, name="compare"),
    path("services/<str:service_name>/", views.service_page, name="service_page"),
]
