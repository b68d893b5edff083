"""Demo content: a teacher, a student and two published quizzes covering every type."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from quizplatform.db import models
from quizplatform.domain.questions import (
    Choice,
    Item,
    NumericAnswer,
    Pair,
    Question,
    QuestionType,
    QuizContent,
    QuizSettings,
    TextAnswer,
)
from quizplatform.services.accounts import Principal, Role
from quizplatform.services.container import Services

TEACHER = ("teacher@example.org", "Demo Teacher", "teach-quizzes-2026")
STUDENT = ("student@example.org", "Demo Student", "learn-quizzes-2026")


@dataclass
class DemoResult:
    created: bool
    quiz_ids: list[str]


def demo_quizzes() -> list[QuizContent]:
    qt = QuestionType
    science = QuizContent(
        title="Science basics",
        description="A short tour of every question type.",
        tags=["science", "demo"],
        settings=QuizSettings(time_limit_seconds=900, shuffle_options=True),
        questions=[
            Question(qt.DESCRIPTION, "Answer the questions below. Good luck!", points=0),
            Question(
                qt.SINGLE_CHOICE,
                "Which planet is known as the red planet?",
                options=[
                    Choice("Mars", 100),
                    Choice("Venus"),
                    Choice("Jupiter"),
                    Choice("Mercury"),
                ],
            ),
            Question(
                qt.MULTIPLE_CHOICE,
                "Which of these are noble gases?",
                points=2,
                options=[
                    Choice("Helium", 50),
                    Choice("Neon", 50),
                    Choice("Oxygen", -50),
                    Choice("Nitrogen", -50),
                ],
            ),
            Question(qt.TRUE_FALSE, "Water boils at 100 °C at sea level.", answer=True),
            Question(
                qt.SHORT_ANSWER,
                "What is the chemical symbol of gold?",
                text_answers=[TextAnswer("Au")],
            ),
            Question(
                qt.NUMERIC,
                "How many bones does an adult human have?",
                numeric_answers=[NumericAnswer(206, 0), NumericAnswer(206, 10, 50)],
            ),
            Question(
                qt.MATCHING,
                "Match each scientist with their field.",
                points=3,
                pairs=[
                    Pair("Darwin", "Biology"),
                    Pair("Curie", "Chemistry"),
                    Pair("Newton", "Physics"),
                ],
            ),
            Question(
                qt.ORDERING,
                "Order the planets by distance from the Sun.",
                items=[Item("Mercury"), Item("Venus"), Item("Earth"), Item("Mars")],
            ),
            Question(qt.ESSAY, "Explain in a few sentences why the sky is blue.", points=5),
        ],
    )
    capitals = QuizContent(
        title="European capitals",
        description="Quick geography warm-up.",
        tags=["geography", "demo"],
        questions=[
            Question(
                qt.SINGLE_CHOICE,
                "What is the capital of France?",
                options=[Choice("Paris", 100), Choice("Lyon"), Choice("Marseille")],
            ),
            Question(
                qt.SHORT_ANSWER,
                "What is the capital of Italy?",
                text_answers=[TextAnswer("Rome"), TextAnswer("Roma")],
            ),
            Question(qt.TRUE_FALSE, "Berlin is the capital of Austria.", answer=False),
        ],
    )
    return [science, capitals]


async def load_demo(services: Services) -> DemoResult:
    """Create the demo accounts and quizzes unless the database already has users."""
    async with services.db.session() as session:
        # The smoke account (`quiz smoke setup`) does not count: it is nobody's content.
        real = select(models.User.id).where(models.User.is_smoke.is_(False))
        if await session.scalar(real.limit(1)) is not None:
            return DemoResult(False, [])
    accounts = services.accounts
    teacher = await accounts.register(
        TEACHER[0], TEACHER[2], TEACHER[1], Role.TEACHER, by_admin=True
    )
    await accounts.register(STUDENT[0], STUDENT[2], STUDENT[1], Role.STUDENT, by_admin=True)
    owner = Principal(teacher.id, Role.TEACHER, teacher.display_name)
    ids = []
    for content in demo_quizzes():
        snap = await services.quizzes.create(owner, content)
        await services.quizzes.set_status(owner, snap.id, publish=True)
        ids.append(snap.id)
    return DemoResult(True, ids)
