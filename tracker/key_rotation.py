"""Re-encrypt every stored secret with the newest key (the work of `manage.py rotate_secrets`).

Every model field named `*_encrypted` holds a `tracker.crypto` ciphertext, whichever app owns it, so a
new app's secrets are rotated without being listed here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from django.apps import apps
from django.db import models

from tracker import crypto

ENCRYPTED_SUFFIX = "_encrypted"


@dataclass
class FieldRotation:
    """What rotating one encrypted field did; `unreadable` names rows no configured key decrypts."""

    label: str
    rotated: int = 0
    current: int = 0
    unreadable: list[str] = field(default_factory=list)


def encrypted_fields() -> Iterator[tuple[type[models.Model], str]]:
    for model in apps.get_models():
        for model_field in model._meta.concrete_fields:
            textual = isinstance(model_field, models.TextField | models.CharField)
            if textual and model_field.name.endswith(ENCRYPTED_SUFFIX):
                yield model, model_field.name


def encrypted_field_rotate(*, model: type[models.Model], name: str) -> FieldRotation:
    """Rotate one field row by row; each write is conditional, so a secret changed meanwhile is kept."""
    result = FieldRotation(label=f"{model._meta.label_lower}.{name}")
    rows = model._default_manager.exclude(**{name: ""}).values_list("pk", name).order_by("pk")
    for pk, ciphertext in rows.iterator(chunk_size=500):
        if crypto.is_current(ciphertext):
            result.current += 1
            continue
        try:
            fresh = crypto.rotate(ciphertext)
        except crypto.UndecryptableSecret:
            result.unreadable.append(str(pk))
            continue
        result.rotated += model._default_manager.filter(pk=pk, **{name: ciphertext}).update(**{name: fresh})
    return result


def secrets_rotate() -> list[FieldRotation]:
    return [encrypted_field_rotate(model=model, name=name) for model, name in encrypted_fields()]
