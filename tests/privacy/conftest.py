"""The API fixture, for the routes of personal data."""

from tests.api.conftest import api  # noqa: F401  (fixture)
