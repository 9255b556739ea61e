"""Drift: prediction samples, their bounded sketches, drift reports and pages."""
