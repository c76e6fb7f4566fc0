"""Personal data (PIPL): retention, a person's data on request and its erasure, who saw what in full."""
