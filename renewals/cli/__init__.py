"""`renewals`: one Typer sub-app per capability, composed in `main.py`."""
