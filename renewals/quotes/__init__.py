"""Quotes (报价): quote rules, pricing, the vehicle-model catalogue and making a quote."""
