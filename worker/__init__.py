"""Render workers: `python -m worker --config PATH` on any host with the checkpoint, the templates,
the database and the broker. See worker/__main__.py."""
