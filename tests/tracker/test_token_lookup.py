"""The token lookup behind every API request: one plain query that gives what the ORM would."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tracker.models import ApiToken
from tracker.selectors import token_active
from tracker.services import token_hash

pytestmark = pytest.mark.django_db


def fields(instance) -> dict:
    return {key: value for key, value in vars(instance).items() if not key.startswith("_")}


def test_it_loads_the_token_and_its_project_as_the_orm_does(project, make_token):
    raw = make_token(project, ["ingest", "admin"])
    ApiToken.objects.filter(token_hash=token_hash(raw)).update(last_used_at=timezone.now() - timedelta(hours=1))
    expected = ApiToken.objects.select_related("project").get(token_hash=token_hash(raw))
    with CaptureQueriesContext(connection) as queries:
        token = token_active(token_hash=token_hash(raw))
        assert token.project.slug == project.slug
    assert len(queries) == 1
    assert fields(token) == fields(expected)
    assert fields(token.project) == fields(expected.project)
    assert sorted(token.scopes) == ["admin", "ingest"] and token.has_scope("admin")
    assert token.last_used_at.tzinfo is not None
    assert token._state.adding is False and token._state.db == "default"


def test_it_finds_no_revoked_or_unknown_token(project, make_token):
    raw = make_token(project, ["ingest"])
    ApiToken.objects.filter(token_hash=token_hash(raw)).update(revoked_at=timezone.now())
    assert token_active(token_hash=token_hash(raw)) is None
    assert token_active(token_hash=token_hash("dtk_unknown")) is None
