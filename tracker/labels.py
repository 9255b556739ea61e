"""Stored labels (enum values, choice keys) as the words people read. Pure: no Django."""

from __future__ import annotations

import re

# Words that are not the capitalised spelling of their stored label.
HUMAN_LABELS = {
    "github": "GitHub",
    "gitlab": "GitLab",
    "pagerduty": "PagerDuty",
    "inprogress": "In progress",
    "in_progress": "In progress",
    "rolledback": "Rolled back",
    "nodata": "No data",
    "insufficient_data": "No data",
    "ci": "CI",
    "api": "API",
    "ab": "A/B",
    "url": "URL",
    "email": "E-mail",
    "argo_rollouts": "Argo Rollouts",
    "mlflow": "MLflow",
    "blue_green": "Blue-green",
    "ml_flow": "MLflow",
}


def human_label(value: object) -> str:
    """ "rolled_back" → "Rolled back", "inprogress" → "In progress", "github" → "GitHub", "NoData" → "No data"."""
    if value is None or value == "":
        return "—"
    text = str(value)
    key = re.sub(r"[\s.-]+", "_", text.strip()).lower()
    for candidate in (key, key.replace("_", "")):
        if candidate in HUMAN_LABELS:
            return HUMAN_LABELS[candidate]
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text).replace("_", " ").replace("-", " ").replace(".", " ").split()
    if not words:
        return "—"
    sentence = " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words)
    return sentence[0].upper() + sentence[1:]
