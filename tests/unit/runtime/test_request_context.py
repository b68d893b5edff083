"""RequestContext: one typed record per request, found under one key of its scope."""

from __future__ import annotations

from typing import Any

from quizplatform.runtime.request_context import CONTEXT_KEY, RequestContext, request_context


def test_the_context_starts_on_first_use_and_is_shared() -> None:
    scope: dict[str, Any] = {"type": "http"}
    context = request_context(scope)
    assert scope["state"] == {CONTEXT_KEY: context}
    assert request_context(scope) is context
    assert request_context(dict(scope)) is context  # a copied scope shares the state
    assert (context.request_id, context.client_ip, context.tls, context.user_id) == (
        "",
        "",
        None,
        None,
    )


def test_a_principal_is_remembered_then_forgotten() -> None:
    context = RequestContext()
    context.remember_principal(None)
    assert context.principal_resolved and context.principal is None
    context.remember_principal("someone")
    assert context.principal == "someone"
    context.forget_principal()
    assert not context.principal_resolved and context.principal is None
