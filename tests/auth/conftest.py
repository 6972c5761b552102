"""The scope matrix runs on the web tests' city, accounts and cycle."""

from tests.web.conftest import (  # noqa: F401 — fixtures, used by name
    accounts,
    city,
    client,
    cycle,
    loaded_engine,
)
