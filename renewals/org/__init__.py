"""The organisation tree and its staff: branches, sub-branches, staff accounts and roles."""
