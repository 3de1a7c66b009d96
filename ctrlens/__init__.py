"""ctrlens: was it seen, was it clicked, did the click lead anywhere, and is a difference real.

This package is the composition root: `app.py` assembles the ASGI application and `cli.py`
the `ctrlens` command from the parts below it (collector, dashboard, snippet). The parts
never import this level. The contract they implement is docs/design.md.
"""
