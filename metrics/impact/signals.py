"""Hooks other apps listen to (alerts evaluate their rules) without metrics importing them."""

from django.dispatch import Signal

# Sent after an impact report is stored (outside its transaction). Argument: report (an ImpactReport).
impact_report_computed = Signal()
