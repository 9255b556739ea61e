"""Django finds `metrics.admin`; each subject registers its models in its own module."""

from metrics.drift import admin as drift_admin  # noqa: F401 - registers the drift models
from metrics.impact import admin as impact_admin  # noqa: F401 - registers the impact models
