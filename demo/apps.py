from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo installation: its seeding (`manage.py seed_demo`) and the receiver its channel and CI use."""

    name = "demo"
    default_auto_field = "django.db.models.BigAutoField"
