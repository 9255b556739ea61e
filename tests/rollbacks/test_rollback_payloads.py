"""Outbound rollback bodies against stored examples of the receiving APIs' documented request shapes."""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest

from rollbacks.openapi import PROMOTION_REQUESTED, ROLLBACK_REQUESTED
from rollbacks.payloads import (
    DeployRef,
    EndpointFormat,
    EndpointSettings,
    ModelRef,
    PayloadError,
    RollbackMessage,
    build_body,
    encode_body,
    generic_body,
    github_body,
    gitlab_body,
    iso_utc,
    provider_headers,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rollback"


def load(name):
    return json.loads((FIXTURES / name).read_text())


def message(**changes):
    """The message the stored generic example documents."""
    base = RollbackMessage(
        rollback_id="3f1c2a9e-5b7d-4c1e-9a2f-0d6b8e4c7a11",
        project="acme",
        service="fraud-scorer",
        environment="production",
        current=DeployRef(
            id=412,
            version="2026.11.3",
            commit_sha="9f2c4e1d8b7a6c5e4f3a2b1c0d9e8f7a6b5c4d3e",
            ref="main",
            model=ModelRef("fraud-gbm", "41", "models:/fraud-gbm/41", "sha256:aa11"),
            url="https://tracker.example/acme/deploys/412/",
        ),
        target=DeployRef(
            id=398,
            version="2026.11.2",
            commit_sha="1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b",
            ref="main",
            model=ModelRef("fraud-gbm", "40", "models:/fraud-gbm/40", "sha256:bb22"),
            url="https://tracker.example/acme/deploys/398/",
        ),
        reason="p99 latency doubled after 2026.11.3",
        requested_by="dana",
        # Given in UTC+1 on purpose: the body must carry UTC.
        requested_at=datetime(2026, 11, 28, 10, 30, tzinfo=timezone(timedelta(hours=1))),
        expires_at=datetime(2026, 11, 28, 10, 30, tzinfo=UTC),
        callback_url="https://tracker.example/api/v1/rollbacks/3f1c2a9e-5b7d-4c1e-9a2f-0d6b8e4c7a11/status",
        callback_token="rbcb_example-one-time-token",
    )
    return replace(base, **changes)


def test_it_builds_the_generic_body_exactly_as_documented():
    assert generic_body(message()) == load("generic_rollback_requested.json")


def test_it_writes_null_for_a_deploy_without_a_model():
    body = generic_body(message(target=DeployRef(id=1, version="1")))
    assert body["target"] == {
        "id": 1,
        "version": "1",
        "commit_sha": "",
        "ref": "",
        "model": None,
        "url": "",
    }


def test_it_writes_times_in_utc_with_a_z():
    assert iso_utc(datetime(2026, 1, 1, 1, 0, 0, 900, tzinfo=timezone(timedelta(hours=2)))) == "2025-12-31T23:00:00Z"


GITHUB = load("github_repository_dispatch.json")


def test_githubs_stored_example_fits_its_stored_schema():
    jsonschema.validate(GITHUB["example_request"], GITHUB["request_schema"])


def test_it_builds_a_repository_dispatch_body_github_accepts():
    body = github_body(message())
    jsonschema.validate(body, GITHUB["request_schema"])
    assert set(body) == set(GITHUB["example_request"])
    assert body["event_type"] == "rollback.requested"


def test_it_keeps_client_payload_within_ten_top_level_keys():
    payload = github_body(message())["client_payload"]
    assert len(payload) <= 10
    assert payload["target"]["version"] == "2026.11.2" and payload["current"]["version"] == "2026.11.3"
    assert payload["callback"]["token"] == "rbcb_example-one-time-token"


def test_it_stays_under_64_kb_with_every_field_at_its_input_limit():
    big = DeployRef(id=2**62, version="v" * 200, commit_sha="f" * 64, ref="r" * 255, url="u" * 2000)
    big = replace(big, model=ModelRef("m" * 200, "9" * 100, "s" * 2000, "d" * 200))
    msg = message(
        current=big,
        target=replace(big, id=1),
        reason="x" * 2000,
        requested_by="n" * 150,
    )
    assert len(encode_body(github_body(msg)["client_payload"])) < 64 * 1024


def test_it_refuses_a_client_payload_github_would_reject_for_size():
    with pytest.raises(PayloadError):
        github_body(message(reason="x" * 70_000))


@pytest.mark.parametrize("event_type", ["", "e" * 101])
def test_it_refuses_an_event_type_outside_githubs_limits(event_type):
    with pytest.raises(PayloadError):
        github_body(message(), event_type)


def test_it_sends_the_headers_github_documents():
    headers = provider_headers(EndpointSettings(EndpointFormat.GITHUB, token="ghp_x"))
    for name, value in GITHUB["request_headers"].items():
        expected = value.replace("<YOUR-TOKEN>", "ghp_x")
        assert headers[name] == expected


GITLAB = load("gitlab_pipeline_trigger.json")


def test_gitlabs_stored_example_fits_its_stored_schema():
    jsonschema.validate(GITLAB["example_request"], GITLAB["request_schema"])


def test_it_builds_a_pipeline_trigger_body_gitlab_accepts():
    body = gitlab_body(message(), "glptt-abc", "main")
    jsonschema.validate(body, GITLAB["request_schema"])
    assert set(body) == set(GITLAB["example_request"])
    assert body["token"] == "glptt-abc" and body["ref"] == "main"


def test_it_flattens_the_message_into_gitlab_string_variables():
    variables = gitlab_body(message(target=DeployRef(id=7, version="1.0")), "t", "main")["variables"]
    assert variables["ROLLBACK_TARGET_VERSION"] == "1.0"
    assert variables["ROLLBACK_TARGET_DEPLOY_ID"] == "7"
    assert variables["ROLLBACK_TARGET_MODEL_VERSION"] == ""
    assert variables["ROLLBACK_CURRENT_COMMIT_SHA"] == "9f2c4e1d8b7a6c5e4f3a2b1c0d9e8f7a6b5c4d3e"
    assert variables["ROLLBACK_EXPIRES_AT"] == "2026-11-28T10:30:00Z"
    assert variables["ROLLBACK_CALLBACK_TOKEN"] == "rbcb_example-one-time-token"


def test_it_refuses_a_trigger_without_token_or_ref():
    with pytest.raises(PayloadError):
        gitlab_body(message(), "", "main")
    with pytest.raises(PayloadError):
        gitlab_body(message(), "t", "")


def test_it_keeps_the_trigger_token_out_of_the_headers():
    assert "Authorization" not in provider_headers(EndpointSettings(EndpointFormat.GITLAB, token="glptt-abc"))


def test_it_picks_the_builder_by_the_endpoints_format():
    msg = message()
    assert build_body(EndpointSettings(EndpointFormat.GENERIC), msg)["type"] == "rollback.requested"
    assert "client_payload" in build_body(EndpointSettings(EndpointFormat.GITHUB), msg)
    assert "variables" in build_body(EndpointSettings(EndpointFormat.GITLAB, token="t", ref="prod"), msg)


def test_it_encodes_compact_utf8_that_decodes_to_the_same_body():
    body = generic_body(message(reason="latência ↑"))
    raw = encode_body(body)
    assert json.loads(raw) == body and "latência ↑".encode() in raw and b", " not in raw


# --- promotion.requested: the same presets, under the promotion's own names -------------------------------------


def promotion(**changes):
    """The stored example's facts as a promotion: the canary 2026.11.3 takes over from its baseline 2026.11.2."""
    return message(kind="promotion", rollback_id="8d0e6f1a-2b3c-4d5e-8f90-a1b2c3d4e5f6", **changes)


def test_the_generic_promotion_body_fits_the_documented_webhook_schema():
    body = generic_body(promotion())
    jsonschema.validate(body, PROMOTION_REQUESTED)
    assert body["type"] == "promotion.requested" and body["promotion_id"] == "8d0e6f1a-2b3c-4d5e-8f90-a1b2c3d4e5f6"
    assert (body["deploy"]["version"], body["baseline"]["version"]) == ("2026.11.3", "2026.11.2")
    assert not {"rollback_id", "current", "target"} & set(body)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, ROLLBACK_REQUESTED)
    jsonschema.validate(generic_body(message()), ROLLBACK_REQUESTED)


def test_a_promotion_is_a_repository_dispatch_github_accepts_under_its_own_event_type():
    # The endpoint's event type names its rollbacks; a promotion is always `promotion.requested`.
    body = github_body(promotion(), "deploy-tracker-rollback")
    jsonschema.validate(body, GITHUB["request_schema"])
    assert body["event_type"] == "promotion.requested"
    payload = body["client_payload"]
    assert len(payload) <= 10 and payload["promotion_id"] == "8d0e6f1a-2b3c-4d5e-8f90-a1b2c3d4e5f6"
    assert (payload["deploy"]["version"], payload["baseline"]["version"]) == ("2026.11.3", "2026.11.2")


def test_a_promotion_is_a_pipeline_trigger_gitlab_accepts_with_promotion_variables():
    body = gitlab_body(promotion(), "glptt-abc", "main")
    jsonschema.validate(body, GITLAB["request_schema"])
    variables = body["variables"]
    assert variables["PROMOTION_ID"] == "8d0e6f1a-2b3c-4d5e-8f90-a1b2c3d4e5f6"
    assert variables["PROMOTION_DEPLOY_VERSION"] == "2026.11.3"
    assert variables["PROMOTION_BASELINE_VERSION"] == "2026.11.2"
    assert variables["PROMOTION_CALLBACK_TOKEN"] == "rbcb_example-one-time-token"
    assert not any(key.startswith("ROLLBACK_") for key in variables)


def test_a_promotion_with_every_field_at_its_input_limit_stays_under_64_kb_for_github():
    big = DeployRef(id=2**62, version="v" * 200, commit_sha="f" * 64, ref="r" * 255, url="u" * 2000)
    big = replace(big, model=ModelRef("m" * 200, "9" * 100, "s" * 2000, "d" * 200))
    msg = promotion(current=big, target=replace(big, id=1), reason="x" * 2000, requested_by="n" * 150)
    assert len(encode_body(github_body(msg)["client_payload"])) < 64 * 1024
