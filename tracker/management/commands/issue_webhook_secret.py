from django.core.management.base import BaseCommand, CommandError

from tracker.models import Project
from tracker.services import signing_secret_issue


class Command(BaseCommand):
    help = "Issue an inbound Standard Webhooks signing secret (printed once, as the last line)."

    def add_arguments(self, parser):
        parser.add_argument("project")
        parser.add_argument("--require", action="store_true", help="refuse unsigned deploy events from now on")

    def handle(self, *args, project, require, **options):
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"no project {project!r}")
        secret = signing_secret_issue(project=target, require=require)
        state = "required" if target.require_signed_webhooks else "optional"
        self.stderr.write(f"signing secret for {target.slug}; signatures are {state}. It is not shown again.")
        self.stdout.write(secret)
