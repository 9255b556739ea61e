import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from demo.seed import demo_seed
from demo.selectors import DEMO_SLUG
from demo.services import demo_receiver_connect, demo_user_ensure
from tracker.models import Project, Role
from tracker.services import membership_set


class Command(BaseCommand):
    help = (
        "Create (or refresh) the demo project by replaying four weeks of history through the product. "
        "User demo / password demo, a superuser of this installation: demo only, never in production."
    )

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="delete the demo project's data and seed it anew")
        parser.add_argument("--force", action="store_true", help="seed even with DEBUG off (tests, never production)")

    def handle(self, *args, reset, force, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo runs with DEBUG=1 only (it creates the superuser demo / demo); --force overrides this"
            )
        user = demo_user_ensure()
        project = Project.objects.filter(slug=DEMO_SLUG).first()
        if project is not None and not reset:
            membership_set(project=project, user=user, role=Role.ADMIN)
            self._connect(project, user)
            self.stdout.write(f"Demo already seeded (--reset rebuilds it): {settings.SITE_URL}/demo/ — demo / demo")
            return
        if project is not None:
            project.delete()
        started = time.monotonic()
        project = demo_seed(user=user)
        self._connect(project, user)
        self.stderr.write(f"seeded the demo in {time.monotonic() - started:.1f} s")
        self.stdout.write(
            f"Demo ready: {settings.SITE_URL}/demo/ — log in as demo / demo (also the superuser of /admin/)"
        )

    def _connect(self, project, user):
        problem = demo_receiver_connect(project=project, user=user)
        if problem:
            self.stderr.write(f"warning: {problem}")
