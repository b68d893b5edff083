"""The request middleware: one ASGI entry point (``entry.RequestContextMiddleware``) and
the small collaborators it delegates to, one concern a module.

A request interrupted by a database failover is run again by ``api/retry.py``, the
layer just inside this one, so nothing here runs twice for it. Web pages get the same
treatment as API requests, identified by their session cookie instead of the
Authorization header; they may post forms, and their refusals are HTML pages.
"""

from quizplatform.api.middleware.entry import RequestContextMiddleware
from quizplatform.api.middleware.observation import route_template

__all__ = ["RequestContextMiddleware", "route_template"]
