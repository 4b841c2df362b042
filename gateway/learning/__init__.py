"""Learning while serving: shadow verdicts and feedback move each request family's rate in the running
gateway, off the request path, behind guard rails, shared by every replica through the state store.

labels.py turns a verdict or a rating into a label (the rules of docs/quality.md); counts.py keeps
decayed counts; rails.py decides when learned counts may move routing; layer.py is what the scorer
reads (classify.families.LearnedCounts); learner.py queues labels and applies them to the store.
"""
