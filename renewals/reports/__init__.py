"""Reports (SPEC §9): renewal and lapse rates, the funnel, task compliance, charts and the daily roll-up."""
