from importlib import import_module

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.module_loading import module_has_submodule

from tracker.models import Project, Role
from tracker.services import membership_set, project_create


class Command(BaseCommand):
    help = "Create (or refresh) the demo project: user demo / password demo. Demo only: never in production."

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="delete the demo project's data and seed it anew")

    def handle(self, *args, reset, **options):
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(username="demo", defaults={"email": "demo@example.com"})
        if created:
            user.set_password("demo")
            user.save()
        existing = Project.objects.filter(slug="demo").first()
        if existing is not None and not reset:
            membership_set(project=existing, user=user, role=Role.ADMIN)
            self.stdout.write(f"Demo already seeded (--reset rebuilds it): {settings.SITE_URL}/demo/ — demo / demo")
            return
        if existing is not None:
            existing.delete()
        with transaction.atomic():
            project = project_create(slug="demo", name="Demo")
            membership_set(project=project, user=user, role=Role.ADMIN)
        # Each app may seed its part in `<app>/demo.py: seed(*, project)`, found like admin.py: the core names no
        # product app. INSTALLED_APPS lists the lower layers first, so the deploys exist before their analysis.
        for config in apps.get_app_configs():
            if module_has_submodule(config.module, "demo"):
                import_module(f"{config.name}.demo").seed(project=project)
                self.stderr.write(f"seeded {config.label}")
        self.stdout.write(f"Demo ready: {settings.SITE_URL}/demo/ — log in as demo / demo")
