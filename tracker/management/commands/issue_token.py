from django.core.management.base import BaseCommand, CommandError

from tracker.models import Project
from tracker.services import token_issue


class Command(BaseCommand):
    help = "Issue an API token for a project; the token is printed once, as the last line."

    def add_arguments(self, parser):
        parser.add_argument("project")
        parser.add_argument("--scopes", default="ingest,read", help="comma-separated: ingest,read,rollback,admin")
        parser.add_argument("--name", default="cli")

    def handle(self, *args, project, scopes, name, **options):
        target = Project.objects.filter(slug=project).first()
        if target is None:
            raise CommandError(f"no project {project!r}")
        try:
            token, raw = token_issue(project=target, name=name, scopes=[s.strip() for s in scopes.split(",")])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(
            f"token {token.prefix}… for {target.slug} with scopes {','.join(token.scopes)}; "
            "store it now, it is not shown again"
        )
        self.stdout.write(raw)
