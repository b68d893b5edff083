"""The teacher's report on a quiz: item analysis of its submitted attempts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from quizplatform.db import models
from quizplatform.db.engine import Database
from quizplatform.domain.analysis import AttemptItems, QuestionInfo, analyse
from quizplatform.services.accounts import Principal
from quizplatform.services.attempts.results import OptionChoices, QuestionReport, QuizReport
from quizplatform.services.quizzes import QuizService
from quizplatform.services.smoke import not_smoke


class QuizReports:
    """Builds the report of a quiz for its owner."""

    def __init__(self, db: Database, quizzes: QuizService) -> None:
        self.db = db
        self.quizzes = quizzes

    async def report(self, caller: Principal, quiz_id: str) -> QuizReport:
        """Facility, discrimination and option counts per question, and every score."""
        snap = await self.quizzes.owned(caller, quiz_id)
        submitted = (
            models.Attempt.quiz_id == quiz_id,
            models.Attempt.status == "submitted",
            not_smoke(models.Attempt.user_id),
        )
        # Plain column rows, not ORM objects: building an instance per attempt and per
        # response was most of the report's time (the teacher's report page, p95 budget).
        async with self.db.read_session() as session:
            attempts = (
                await session.execute(
                    select(
                        models.Attempt.id,
                        models.Attempt.percent,
                        models.Attempt.drawn,
                        models.Attempt.live_game_id,
                        models.Attempt.question_ids,
                    ).where(*submitted)
                )
            ).all()
            responses = (
                await session.execute(
                    select(
                        models.Response.attempt_id,
                        models.Response.question_id,
                        models.Response.score,
                        models.Response.payload,
                    )
                    .join(models.Attempt)
                    .where(*submitted)
                )
            ).all()
        scores: dict[str, dict[str, float]] = {}
        choices: dict[str, dict[str, list[str]]] = {}
        for attempt_id, question_id, score, payload in responses:
            scores.setdefault(attempt_id, {})[question_id] = score or 0.0
            choices.setdefault(attempt_id, {})[question_id] = _chosen(payload)
        infos = [
            QuestionInfo(q.id or "", q.max_score, tuple(o.id or "" for o in q.options))
            for q in snap.questions
        ]
        # Each question drawn from the bank, over the attempts that saw it; by rule (in
        # the quiz's order, rules since removed last), then in the order first seen.
        rule_of: dict[str, str] = {}
        for _, _, drawn, _, _ in attempts:
            rule_of.update(drawn or {})
        rank = {rule.id: i for i, rule in enumerate(snap.draws)}
        ordered = sorted(rule_of, key=lambda qid: rank.get(rule_of[qid], len(rank)))
        versions = await self.quizzes.question_versions(ordered) if ordered else {}
        infos += [
            QuestionInfo(qid, q.max_score, tuple(o.id or "" for o in q.options), drawn=True)
            for qid in ordered
            if (q := versions.get(qid)) is not None
        ]
        items = [
            AttemptItems(
                scores=scores.get(attempt_id, {}),
                choices=choices.get(attempt_id, {}),
                seen=frozenset(drawn or ()),
                # A live game's attempt holds only the questions the game could play.
                only=frozenset(question_ids) if live_game_id else None,
            )
            for attempt_id, _, drawn, live_game_id, question_ids in attempts
        ]
        analysis = analyse(infos, items)
        return QuizReport(
            attempts=analysis.attempts,
            mean_percent=analysis.mean_percent,
            questions=tuple(
                QuestionReport(
                    question_id=qa.question_id,
                    facility=qa.facility,
                    discrimination=qa.discrimination,
                    mean_score=qa.mean_score,
                    max_score=qa.max_score,
                    options=tuple(OptionChoices(o.id, o.chosen) for o in qa.options),
                    attempts=qa.attempts,
                    draw_id=rule_of.get(qa.question_id),
                )
                for qa in analysis.questions
            ),
            scores=tuple(sorted(percent or 0.0 for _, percent, *_ in attempts)),
        )


def _chosen(payload: dict[str, Any]) -> list[str]:
    if "option_id" in payload:
        return [str(payload["option_id"])]
    return [str(x) for x in payload.get("option_ids", [])]
