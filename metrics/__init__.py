"""Metrics: two apps and what they share.

`metrics.impact` (label `impact`: metric points, rollups, settings, impact reports) and `metrics.drift`
(label `drift`: prediction samples, sketches, drift reports) are Django apps, independent of each other.
The package itself is no app: it holds their shared pure modules (`stats`, `points`, `predictions`,
`timestamps`: no Django imports) and the static finder that serves Plotly.
"""
