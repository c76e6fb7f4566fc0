"""Intake: the policy file, imports and the nightly intake that start every case on time."""
