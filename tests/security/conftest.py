"""Adversarial tests: the fixtures of tests/api and tests/web, re-exported."""

from tests.api.conftest import api
from tests.web.conftest import fast_hashing, web

__all__ = ["api", "fast_hashing", "web"]
