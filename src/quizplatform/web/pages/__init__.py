"""Page modules. Each defines ``router = page_router()``; add new ones to ``PAGE_MODULES``
(order matters only for overlapping paths)."""

from __future__ import annotations

from quizplatform.web.pages import accounts, attempts, catalogue, home, report

PAGE_MODULES = (home, accounts, catalogue, attempts, report)
