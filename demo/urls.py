from django.urls import path

from demo import views

urlpatterns = [
    path("<slug:project_slug>/alerts", views.alerts_receiver, name="demo_receiver_alerts"),
    path("<slug:project_slug>/rollback", views.rollback_receiver, name="demo_receiver_rollback"),
]
