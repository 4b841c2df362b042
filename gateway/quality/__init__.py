"""Routing quality on the operator's own traffic, offline: the decision log read back (log.py), what it
says (summary.py, curve.py), the same traffic decided under other rules (whatif.py, expect.py,
rescore.py), a scorer retrained on its labels (retrain.py), and the report as text or as one HTML file
with its plots (text.py, html.py, svg.py). `gateway report` and `gateway train --from-log` (cli.py) are
the way in. The server never imports this package (the layers contract puts it beside the server) and
`gateway serve` reads only its argument parser, so what it needs (numpy to rescore and retrain) costs
a running gateway nothing.
"""
