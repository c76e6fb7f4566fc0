# The API over this module's worker and database, and the console in a browser.
from tests.api.conftest import api  # noqa: F401  (fixture)
from tests.console.conftest import browser, console_url  # noqa: F401  (fixture)
