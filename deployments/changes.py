"""What changed between two deploys: pure data in, pure data out (no Django imports)."""

from __future__ import annotations

from typing import Any

# (key, label) in the order a person reads a deploy: code, then model, then data.
FACTS = [
    ("version", "Version"),
    ("commit_sha", "Commit"),
    ("ref", "Ref"),
    ("model_name", "Model"),
    ("model_version", "Model version"),
    ("model_uri", "Model URI"),
    ("model_run_id", "Model run"),
    ("model_digest", "Model digest"),
    ("data_version", "Data version"),
    ("strategy", "Strategy"),
    ("traffic_percent", "Traffic %"),
]


def deploy_facts(deploy: Any) -> dict[str, Any]:
    facts = {key: getattr(deploy, key) for key, _ in FACTS}
    facts["params"] = dict(getattr(deploy, "params", None) or {})
    return facts


def params_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {
        "added": {key: after[key] for key in sorted(after.keys() - before.keys())},
        "removed": {key: before[key] for key in sorted(before.keys() - after.keys())},
        "changed": {
            key: {"before": before[key], "after": after[key]}
            for key in sorted(before.keys() & after.keys())
            if before[key] != after[key]
        },
    }


def changes_between(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, Any]:
    """Field-by-field comparison; with no baseline everything is simply new."""
    rows = []
    for key, label in FACTS:
        old = before.get(key) if before else None
        new = after.get(key)
        if old in (None, "") and new in (None, ""):
            continue
        rows.append({"field": key, "label": label, "before": old, "after": new, "changed": old != new})
    params = params_diff(before["params"] if before else {}, after["params"])
    return {
        "has_baseline": before is not None,
        "fields": rows,
        "changed_fields": [row["field"] for row in rows if row["changed"]],
        "params": params,
        "params_changed": any(params.values()),
    }
