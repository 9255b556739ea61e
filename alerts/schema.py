"""OpenAPI: the alerts request bodies refuse unknown fields, so the schema says `additionalProperties: false`.

Besides being the truth, it keeps API fuzzers from inventing free-form extra properties for these bodies.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema

CLOSED_BODIES = (
    "alerts.api.ChannelInputSerializer",
    "alerts.api.ChannelUpdateSerializer",
    "alerts.api.RuleInputSerializer",
    "alerts.api.RuleUpdateSerializer",
)


class _ClosedBody(OpenApiSerializerExtension):
    def map_serializer(self, auto_schema: AutoSchema, direction: str) -> dict:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema


# One registered extension per serializer (drf-spectacular matches an extension to one target class).
for _path in CLOSED_BODIES:
    type(f"ClosedBody_{_path.rsplit('.', 1)[1]}", (_ClosedBody,), {"target_class": _path})
