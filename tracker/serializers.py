"""Serializer pieces shared by every app's API."""

from __future__ import annotations

from rest_framework import serializers


class StrictSerializer(serializers.Serializer):
    """Refuses unknown fields, so a typo in CI is an error rather than silently dropped data.

    The OpenAPI schema says so too (`additionalProperties: false`, see tracker/openapi.py).
    """

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = set(data) - set(self.fields)
            if unknown:
                raise serializers.ValidationError({key: ["unknown field"] for key in sorted(unknown)})
        return super().to_internal_value(data)
