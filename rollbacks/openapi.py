"""The OpenAPI security scheme of the rollback callback (registered with drf-spectacular in RollbacksConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class RollbackCallbackScheme(OpenApiAuthenticationExtension):
    target_class = "rollbacks.api.CallbackTokenAuthentication"
    name = "rollbackCallbackToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "the rollback request's one-time callback token"}
