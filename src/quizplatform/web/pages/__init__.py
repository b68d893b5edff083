"""Page modules. Each defines ``router = page_router()``; add new ones to ``PAGE_MODULES``
(order matters only for overlapping paths)."""

from __future__ import annotations

from quizplatform.web.pages import (
    accounts,
    admin,
    ai_drafts,
    attempts,
    catalogue,
    editor,
    home,
    imports,
    report,
)

PAGE_MODULES = (home, accounts, catalogue, attempts, editor, imports, ai_drafts, report, admin)
