"""One-machine runs: embedded servers, `renewals dev`, the demo and sample books."""
