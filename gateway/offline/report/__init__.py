"""Routing quality on the operator's own traffic: the decision log read back (log.py), what it says
(summary.py, curve.py), the same traffic decided under other rules (whatif.py, expect.py, rescore.py),
a scorer retrained on its labels (retrain.py), and the report as text or as one HTML file with its
plots (text.py, html.py, svg.py). `gateway report` and `gateway train --from-log` (offline/cli.py) are
the way in.
"""
