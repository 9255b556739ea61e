"""Domain errors: what a service refuses, said in the product's words, with no HTTP in sight.

Services raise these; the API turns each kind into its status and the error shape in one place
(`tracker.api_errors.exception_handler`), and pages show `message` (or the fields) to people.
A pure module: no Django imports.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal: a machine-readable `code`, a `message` for people and `fields` saying which input is at fault."""

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or type(self).code
        self.fields = fields or {}


class Invalid(DomainError):
    """The input breaks a rule only the service can check (a URL not allowed, a name already taken)."""


class Conflict(DomainError):
    """The stored state forbids it now (a status moving backwards, a request already open)."""

    code = "conflict"


class TooLarge(Invalid):
    """The input is beyond a size limit: the client must split it (more rows than a batch may hold)."""

    code = "too_large"


class Unprocessable(DomainError):
    """Well-formed input that names what the service cannot use (an unknown stream, a value of the wrong kind)."""

    code = "unprocessable"


class FieldsInvalid(Invalid):
    """Invalid input, field by field: `message` sums it up for API clients, str() lists the fields for pages."""

    summary = "the input is not valid"

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__(self.summary, fields=fields)

    def __str__(self) -> str:
        return "; ".join(f"{key}: {' '.join(messages)}" for key, messages in self.fields.items())
