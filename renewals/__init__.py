"""Car-insurance renewal marketing system: shared domain code, settings and the CLI."""
