"""The providers the settings ask for, built once per process."""

from __future__ import annotations

from quizplatform.ai.base import Ask, DraftRequest, Generation, Provider, ProviderCannotDraft, Usage
from quizplatform.ai.remote import GeminiProvider, OpenAICompatibleProvider
from quizplatform.runtime.cpu import CpuPool
from quizplatform.runtime.settings import CACHE_STEP, Settings

CACHE = CACHE_STEP  # a step of the chain that is not a provider


class OfflineProvider:
    """Drafts without any network: from the source text, or from the bundled question
    bank for a topic alone (``quizplatform.ai.offline``)."""

    name = "offline"
    model = "offline-1"
    remote = False

    def __init__(self, cpu: CpuPool) -> None:
        self.cpu = cpu  # drafting is CPU-bound: in a worker thread, a bounded number at once

    async def generate(self, request: DraftRequest, ask: Ask) -> Generation:
        # Imported on first use: instances that never draft offline skip its word lists
        # and question bank.
        from quizplatform.ai import offline

        # Deterministic per seed, so a later round asks for as many more as were
        # accepted before and the validator drops the repeats.
        count = ask.count + len(ask.avoid)
        types = list(ask.plan)
        try:
            if request.source_text:
                items = await self.cpu.run(
                    offline.draft_from_text,
                    request.source_text,
                    count,
                    types,
                    seed=ask.seed,
                    difficulty=request.difficulty,
                )
            else:
                items = await self.cpu.run(
                    offline.draft_from_topic, request.topic or "", count, types, seed=ask.seed
                )
        except offline.OfflineDraftError as exc:
            raise ProviderCannotDraft(f"offline: {exc}") from exc
        source = len(request.source_text or request.topic or "")
        return Generation(items, Usage(prompt_chars=source, output_chars=0))

    async def close(self) -> None:
        return None


def build_providers(settings: Settings, cpu: CpuPool | None = None) -> dict[str, Provider]:
    """Every provider of the settings' chain, by name (the cache step is not one)."""
    providers: dict[str, Provider] = {}
    for name in settings.ai_chain:
        if name == "gemini":
            key = settings.ai_gemini_api_key
            providers[name] = GeminiProvider(
                settings.ai_gemini_base_url,
                settings.ai_gemini_model,
                key.get_secret_value() if key else "",
                settings.ai_timeout_seconds,
            )
        elif name == "openai":
            openai_key = settings.ai_openai_api_key
            providers[name] = OpenAICompatibleProvider(
                settings.ai_openai_base_url,
                settings.ai_openai_model,
                openai_key.get_secret_value() if openai_key else None,
                settings.ai_timeout_seconds,
            )
        elif name == "offline":
            providers[name] = OfflineProvider(cpu or CpuPool(settings.cpu_slots))
    return providers
