"""Page access: a user sees a project only as its member; roles gate state changes."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from tracker.models import Membership, Role

_RANK = {Role.VIEWER: 0, Role.DEPLOYER: 1, Role.ADMIN: 2}


def project_member(min_role: str = Role.VIEWER) -> Callable:
    """Load the project named in the URL for a member (404 for anyone else); set request.project."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, project_slug: str, *args, **kwargs) -> HttpResponse:
            membership = (
                Membership.objects.select_related("project")
                .filter(project__slug=project_slug, user=request.user)
                .first()
            )
            if membership is None:
                raise Http404("No such project")
            if _RANK[membership.role] < _RANK[min_role]:
                raise PermissionDenied(f"this needs the {min_role} role")
            request.project = membership.project
            request.membership = membership
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
