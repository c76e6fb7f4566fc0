"""Lapse risk and the best hour to call, for the to-do panel (SPEC §2, customer intent)."""
