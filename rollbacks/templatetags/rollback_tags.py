"""`{% rollback_card %}`: the deploy page's rollback card, so the page view needs no rollback code."""

from __future__ import annotations

from django import template

from rollbacks.selectors import rollback_section

register = template.Library()


@register.inclusion_tag("rollbacks/_card.html", takes_context=True)
def rollback_card(context: template.Context) -> dict:
    request = context["request"]
    deploy = context["deploy"]
    membership = getattr(request, "membership", None)
    return {
        "project": context["project"],
        "deploy": deploy,
        "section": rollback_section(deploy=deploy),
        "can_request": bool(membership and membership.can_deploy),
    }
