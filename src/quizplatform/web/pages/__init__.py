"""Page modules. Each defines ``router = page_router()``; add new ones to ``PAGE_MODULES``
(order matters only for overlapping paths)."""

from __future__ import annotations

from quizplatform.web.pages import (
    account,
    accounts,
    admin,
    ai_drafts,
    attempts,
    bank,
    catalogue,
    editor,
    home,
    imports,
    live,
    report,
)

PAGE_MODULES = (
    home,
    accounts,
    account,
    catalogue,
    attempts,
    editor,
    imports,
    ai_drafts,
    report,
    bank,
    admin,
    live,
)
