"""Hooks other apps listen to without metrics importing them."""

from django.dispatch import Signal

# Sent after every stored drift report. Argument: report (a DriftReport; report.deploy, report.result).
drift_report_computed = Signal()
