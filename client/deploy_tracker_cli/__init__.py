"""Deploy Tracker's command-line client for CI (standard library only)."""

__version__ = "0.1.0"
