from tests.api.conftest import api  # noqa: F401  (fixture: the API over this module's worker and database)
