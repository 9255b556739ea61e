from django.core.management.base import BaseCommand, CommandError

from tracker.models import Project, Provider
from tracker.services import provider_secret_issue


class Command(BaseCommand):
    help = "Issue the shared secret of a native GitHub, GitLab or MLflow webhook (printed once, as the last line)."

    def add_arguments(self, parser):
        parser.add_argument("project")
        parser.add_argument("provider", choices=Provider.values)

    def handle(self, *args, project, provider, **options):
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"no project {project!r}")
        secret = provider_secret_issue(project=target, provider=provider)
        self.stderr.write(
            f"{provider} webhook secret for {target.slug}; URL path /api/v1/webhooks/{provider}/{target.slug}"
        )
        self.stdout.write(secret)
