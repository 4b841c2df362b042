"""Routing quality on the operator's own traffic, offline: the decision log read back (log.py), what it
says (summary.py, curve.py), the same traffic decided under other rules (whatif.py), a scorer retrained
on its labels (retrain.py), and the report as text or one HTML file with its plot (text.py, html.py,
svg.py). `gateway report` and `gateway train --from-log` (cli.py) are the only way in: the serving
process never imports this package (an import-linter contract holds it), and numpy stays out of it.
"""
