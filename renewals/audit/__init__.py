"""Audit: timelines, the history archive, export and the replay gate."""
