"""Audit (issue 10): timelines, the history archive, export and the replay gate."""
