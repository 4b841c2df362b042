"""What learns and reports away from traffic: the scorer's training and evaluation, the verifier's
fitting and live calibration, and the decision log's reports (report/). One CLI module (cli.py), one
stats module (stats.py).

The serving process never imports this package (an import-linter contract holds it beside the server),
and the commands import what they need when they run, so numpy-heavy fitting costs a running gateway
nothing.
"""
