"""Serializer pieces shared by every app's API."""

from __future__ import annotations

from rest_framework import serializers


class StrictSerializer(serializers.Serializer):
    """Unknown fields are refused: a typo is an error rather than silently dropped data."""

    # This docstring is every subclass's description in the OpenAPI document (which also says
    # `additionalProperties: false`, tracker.openapi.ClosedRequestBody): written for API users.

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = set(data) - set(self.fields)
            if unknown:
                raise serializers.ValidationError({key: ["unknown field"] for key in sorted(unknown)})
        return super().to_internal_value(data)
