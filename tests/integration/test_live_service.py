"""``LiveGameService`` on both backends (SQLite + the in-process live store, PostgreSQL +
Redis): a whole game, seats, answers stored before they are acknowledged, draws made
once per game, who may host, pausing, join limits."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from tests.api.helpers import Api, User
from tests.api.samples import all_types_quiz, by_type

from quizplatform.app import create_app
from quizplatform.db import models
from quizplatform.domain.live import live_points, streak_bonus
from quizplatform.services.accounts import Principal, Role
from quizplatform.services.container import Services
from quizplatform.services.errors import (
    Forbidden,
    NotAuthenticated,
    NotFound,
    RateLimited,
    ServiceError,
)
from quizplatform.services.live import service as service_module
from quizplatform.services.live.messages import CreatedGame
from quizplatform.services.live.options import GameOptions, LiveConflict, LiveRefused
from quizplatform.services.live.seats import Seat, SeatSigner
from quizplatform.services.live.service import LiveGameService

T0 = 1_900_000_000_000  # the fake clock's start (ms)
LIMIT_MS = 20_000


class Clock:
    """A settable millisecond clock."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
async def api(services: Services) -> AsyncIterator[Api]:
    app = create_app(services.settings, services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, services)


def live_service(services: Services, clock: Callable[[], int], **settings: Any) -> LiveGameService:
    """The instance's live service with a fake clock (and changed settings)."""
    changed = services.settings.model_copy(update=settings) if settings else services.settings
    live = services.live
    return LiveGameService(
        changed,
        live.store,
        services.store,
        live.records,
        services.quizzes,
        services.attempts,
        clock,
    )


def who(user: User, role: Role) -> Principal:
    return Principal(user.id, role, f"{role.value} {user.id[:4]}")


async def game_attempts(services: Services, game_id: str) -> list[models.Attempt]:
    async with services.db.session() as session:
        return list(
            await session.scalars(
                select(models.Attempt).where(models.Attempt.live_game_id == game_id)
            )
        )


async def response_count(services: Services, attempt_id: str) -> int:
    async with services.db.session() as session:
        n = await session.scalar(
            select(func.count())
            .select_from(models.Response)
            .where(models.Response.attempt_id == attempt_id)
        )
    return int(n or 0)


async def test_a_whole_game(api: Api, services: Services) -> None:
    clock = Clock()
    live = live_service(services, clock)
    teacher, student = await api.user("teacher"), await api.user("student")
    host = who(teacher, Role.TEACHER)
    quiz = await api.quiz(teacher, all_types_quiz(max_attempts=1))
    key = by_type(quiz)
    created = await live.create_game(host, quiz["id"], GameOptions(question_seconds=20))
    assert created["questions"] == 6  # matching and essay are not played live
    assert {s["type"] for s in created["skipped"]} == {"matching", "essay"}
    assert len(created["pin"]) == 6 and created["join_url_path"].endswith(created["pin"])
    game_id = created["id"]
    assert await live.game_of_pin(created["pin"]) == game_id

    ada, ada_token = await live.join(created["pin"], "  Ada ", ip="10.1.0.1", principal=None)
    assert ada.nickname == "Ada" and live.seat_from_token(ada_token) == ada
    with pytest.raises(LiveConflict) as taken:
        await live.join(created["pin"], "ADA", ip="10.1.0.2", principal=None)
    assert taken.value.reason == "taken"
    bob, _ = await live.join(created["pin"], "Bob", ip="10.1.0.3", principal=None)
    cy, _ = await live.join(created["pin"], "Cy", ip="10.1.0.4", principal=None)
    stu, _ = await live.join(
        created["pin"], "Stu", ip="10.1.0.5", principal=who(student, Role.STUDENT)
    )
    with pytest.raises(NotFound):
        await live.join("000000", "Nobody", ip="10.1.0.6", principal=None)
    lobby = await live.host_view(game_id, host)
    assert lobby["phase"] == "lobby" and sorted(lobby["lobby"]) == ["Ada", "Bob", "Cy", "Stu"]
    assert lobby["players"] == 4

    # The homework leaderboard is built before the game ends (submits then merge into it).
    assert (await services.attempts.leaderboard(None, quiz["id"], 10)).entries == ()

    state = await live.control(game_id, host, "start")
    assert state["phase"] == "question" and state["index"] == 0
    assert state["question"]["id"] == key["single_choice"]["id"]
    assert "correct" not in str(state["question"]) and "weight" not in str(state["question"])
    right = next(o["id"] for o in key["single_choice"]["options"] if o["correct"])
    wrong = next(o["id"] for o in key["single_choice"]["options"] if not o["correct"])

    async def answer(seat: Seat, index: int, body: object, at: int) -> dict[str, Any]:
        return await live.answer(seat, index, body, received_ms=T0 + at, shown_ms=None)

    assert await answer(ada, 0, {"option_id": right}, 2_000) == {
        "type": "ack",
        "accepted": True,
        "already": False,
    }
    assert await response_count(services, ada.player_id) == 1  # stored before the ack
    assert (await answer(ada, 0, {"option_id": wrong}, 3_000))["already"] is True
    assert (await answer(bob, 0, {"option_id": wrong}, 5_000))["accepted"] is True
    assert await answer(cy, 0, {"option_id": "nope"}, 6_000) == {
        "type": "ack",
        "accepted": False,
        "reason": "invalid",
    }
    assert (await answer(cy, 1, {"option_ids": []}, 6_000))["reason"] == "not_open"
    grace = services.settings.live_answer_grace_ms
    late = await answer(cy, 0, {"option_id": right}, LIMIT_MS + grace + 1)
    assert late == {"type": "ack", "accepted": False, "reason": "late"}
    mid = await live.player_view(ada)
    assert mid["answered"] is True and mid["you"]["last"] is None  # nothing revealed yet
    assert mid["you"]["score"] == 0

    assert not await live.close_if_due(game_id, T0 + 10_000)  # Cy and Stu may still answer
    assert await live.close_if_due(game_id, T0 + LIMIT_MS + grace + 1)
    assert not await live.close_if_due(game_id, T0 + LIMIT_MS + grace + 2)
    first = live_points(1.0, 2_000, LIMIT_MS)
    assert first == 950
    view = await live.player_view(ada)
    assert view["phase"] == "closed" and view["correct"] == {"option_ids": [right]}
    assert view["you"]["score"] == first and view["you"]["rank"] == 1
    assert view["you"]["last"] == {"points": first, "bonus": 0, "correct": True}
    assert view["leaderboard"][0] == {"nickname": "Ada", "score": first}
    host_view = await live.host_view(game_id, host)
    assert host_view["answers"] == 2
    assert host_view["distribution"] == {wrong: 1, right: 1}  # Ada's second answer ignored
    assert (await live.player_view(bob))["you"]["last"]["correct"] is False

    clock.now = T0 + 30_000
    state = await live.control(game_id, host, "next")
    assert state["index"] == 1 and state["question"]["type"] == "multiple_choice"
    positive = [o["id"] for o in key["multiple_choice"]["options"] if o["weight"] > 0]
    assert (await answer(ada, 1, {"option_ids": positive}, 30_000))["accepted"]
    assert (await answer(bob, 1, {"option_ids": positive[:1]}, 40_000))["accepted"]
    await live.control(game_id, host, "kick", player_id=cy.player_id)
    with pytest.raises(LiveRefused):
        await live.player_view(cy)
    fanned = await live.player_views(game_id, [ada, bob, cy])
    assert fanned[cy.player_id] is None  # kicked
    ada_now = fanned[ada.player_id]
    assert ada_now is not None and ada_now["answered"] and ada_now["you"]["last"] is None
    assert ada_now["you"]["score"] == first  # this question's points not shown yet
    assert (
        ada_now["question"] is not None
        and ada_now["question"]["id"] == key["multiple_choice"]["id"]
    )
    assert (await answer(cy, 1, {"option_ids": positive}, 41_000))["accepted"] is False
    await live.control(game_id, host, "skip")  # closes question 1, opens question 2
    second_ada = live_points(1.0, 0, LIMIT_MS) + streak_bonus(2)
    second_bob = live_points(0.5, 10_000, LIMIT_MS)
    results = await live.results_for(game_id, [ada.player_id, bob.player_id])
    assert results[ada.player_id]["score"] == first + second_ada == 950 + 1100
    assert results[bob.player_id]["score"] == second_bob == 375

    with pytest.raises(LiveConflict):
        await live.control(game_id, host, "resume")  # not paused
    ended = await live.control(game_id, host, "end")
    assert ended["phase"] == "ended"
    assert [e["nickname"] for e in ended["leaderboard"]] == ["Ada", "Bob", "Stu"]
    assert (await answer(bob, 2, {"value": True}, 50_000))["accepted"] is False

    attempts = {a.id: a for a in await game_attempts(services, game_id)}
    assert set(attempts) == {ada.player_id, bob.player_id, cy.player_id, stu.player_id}
    assert {a.status for a in attempts.values()} == {"submitted"}
    assert all(a.live_game_id == game_id for a in attempts.values())
    # Ada: single choice 1 + multiple choice 2, of 7 (the six playable questions).
    assert (attempts[ada.player_id].score, attempts[ada.player_id].max_score) == (3.0, 7.0)
    assert attempts[ada.player_id].percent == 42.86
    assert attempts[bob.player_id].score == 1.0  # one 50 % option of a 2-point question
    assert attempts[stu.player_id].user_id == student.id
    async with services.db.session() as session:
        game = await session.get(models.LiveGame, game_id)
        assert game is not None and game.status == "ended" and game.results is not None
        assert [e["nickname"] for e in game.results["leaderboard"]] == ["Ada", "Bob", "Stu"]
        guest = await session.get(models.User, attempts[ada.player_id].user_id)
        assert guest is not None and guest.role == "guest" and guest.display_name == "Ada"
    # A guest cannot sign in, whatever the password.
    with pytest.raises(NotAuthenticated):
        await services.accounts.authenticate(guest.email, "!guest", "10.1.0.1")

    # Not counted in max_attempts (1): the student still starts their homework attempt.
    view_started, created_now = await services.attempts.start(
        who(student, Role.STUDENT), quiz["id"]
    )
    assert created_now and view_started.id not in attempts
    # Never on the homework leaderboard, merged or rebuilt.
    assert (await services.attempts.leaderboard(None, quiz["id"], 10)).entries == ()
    await services.attempts.leaderboards.record(attempts[stu.player_id], "Stu")  # ignored
    assert (await services.attempts.leaderboard(None, quiz["id"], 10)).entries == ()
    await services.attempts.leaderboards.forget(quiz["id"])
    assert (await services.attempts.leaderboard(None, quiz["id"], 10)).entries == ()
    # In the report and its item analysis.
    report = await services.attempts.report(host, quiz["id"])
    assert report.attempts == 4
    single = next(q for q in report.questions if q.question_id == key["single_choice"]["id"])
    assert {o.id: o.chosen for o in single.options}[right] == 1
    assert single.attempts == 4
    essay = next(q for q in report.questions if q.question_id == key["essay"]["id"])
    assert essay.attempts == 0  # not played live: not counted as 0 points


async def test_seat_tokens_cannot_be_forged(services: Services) -> None:
    live = services.live
    token = live.seats.sign(Seat("g" * 32, "p" * 32, "Ada"))
    assert live.seat_from_token(token) == Seat("g" * 32, "p" * 32, "Ada")
    payload, signature = token.split(".")
    other = base64.urlsafe_b64encode(b"g" * 32 + b"\n" + b"q" * 32 + b"\nAda").rstrip(b"=")
    forged = [
        f"{other.decode()}.{signature}",  # another player, same signature
        f"{payload}.{signature[:-2]}AA",
        SeatSigner("another-secret-of-at-least-32-characters").sign(Seat("g", "p", "Ada")),
        "not a token",
        f"{payload}.{signature}.x",
        "",
    ]
    for bad in forged:
        with pytest.raises(NotAuthenticated):
            live.seat_from_token(bad)


@dataclass
class Started:
    """A game at its first question (a single-choice one), with its players' seats."""

    live: LiveGameService
    host: Principal
    quiz: dict[str, Any]
    game: CreatedGame
    seats: list[Seat]
    right: dict[str, str]  # the right answer to question 0


async def started_game(api: Api, services: Services, *names: str) -> Started:
    live = live_service(services, Clock())
    teacher = await api.user("teacher")
    host = who(teacher, Role.TEACHER)
    quiz = await api.quiz(teacher, all_types_quiz())
    game = await live.create_game(host, quiz["id"], GameOptions())
    seats = [
        (await live.join(game["pin"], name, ip=f"10.3.0.{n}", principal=None))[0]
        for n, name in enumerate(names, start=1)
    ]
    await live.control(game["id"], host, "start")
    right = next(o["id"] for o in by_type(quiz)["single_choice"]["options"] if o["correct"])
    return Started(live, host, quiz, game, seats, {"option_id": right})


async def test_an_answer_is_stored_before_it_is_acknowledged(
    api: Api, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    g = await started_game(api, services, "Ada", "Bob")
    live, quiz, created, seat, right = g.live, g.quiz, g.game, g.seats[0], g.right["option_id"]

    async def broken(*args: object, **kwargs: object) -> None:
        raise ConnectionError("database gone")

    with monkeypatch.context() as patch:
        patch.setattr(live.records, "save_answer", broken)
        with pytest.raises(ConnectionError):  # no ack: the client resends
            await live.answer(seat, 0, {"option_id": right}, received_ms=T0 + 1000, shown_ms=None)
    assert await response_count(services, seat.player_id) == 0
    resent = await live.answer(seat, 0, {"option_id": right}, received_ms=T0 + 1500, shown_ms=None)
    assert resent == {"type": "ack", "accepted": True, "already": True}
    assert await response_count(services, seat.player_id) == 1
    async with services.db.session() as session:
        row = await session.get(
            models.Response, (seat.player_id, by_type(quiz)["single_choice"]["id"])
        )
    assert row is not None and row.payload == {"option_id": right} and row.score == 1.0
    # Its points count the first receipt, and the shown time of the instance.
    results = await live.results_for(created["id"], [seat.player_id])
    assert results[seat.player_id]["points"] == live_points(1.0, 1000, LIMIT_MS)


async def test_speed_counts_from_this_sockets_delivery_up_to_the_slack(
    api: Api, services: Services
) -> None:
    """A slow broadcast does not cost points; a reconnect late in the question does not
    restart the player's clock (it counts from the start plus the slack)."""
    g = await started_game(api, services, "Slow", "Late", "Idle")
    live, created, (slow, late, _), answer = g.live, g.game, g.seats, g.right
    await live.answer(slow, 0, answer, received_ms=T0 + 1400, shown_ms=T0 + 400)
    await live.answer(late, 0, answer, received_ms=T0 + 15_100, shown_ms=T0 + 15_000)
    results = await live.results_for(created["id"], [slow.player_id, late.player_id])
    assert results[slow.player_id]["points"] == live_points(1.0, 1000, LIMIT_MS)
    slack = service_module.DELIVERY_SLACK_MS
    assert results[late.player_id]["points"] == live_points(1.0, 15_100 - slack, LIMIT_MS)


async def test_the_end_stores_answers_whose_rows_were_never_written(
    api: Api, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store took the answer, the instance died before writing its row (no resend):
    ending the game writes it from the store, so the attempt's score counts it."""
    g = await started_game(api, services, "Ada", "Bob")
    live, host, created, seat, right = g.live, g.host, g.game, g.seats[0], g.right["option_id"]

    async def broken(*args: object, **kwargs: object) -> None:
        raise ConnectionError("instance died")

    with monkeypatch.context() as patch:
        patch.setattr(live.records, "save_answer", broken)
        with pytest.raises(ConnectionError):
            await live.answer(seat, 0, {"option_id": right}, received_ms=T0 + 1000, shown_ms=None)
    assert await response_count(services, seat.player_id) == 0
    await live.control(created["id"], host, "end")
    assert await response_count(services, seat.player_id) == 1
    attempts = {a.id: a for a in await game_attempts(services, created["id"])}
    attempt = attempts[seat.player_id]
    assert attempt.status == "submitted" and attempt.score == 1.0


async def test_a_join_whose_database_side_fails_leaves_no_seat(
    api: Api, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = live_service(services, Clock())
    teacher = await api.user("teacher")
    host = who(teacher, Role.TEACHER)
    quiz = await api.quiz(teacher, all_types_quiz())
    created = await live.create_game(host, quiz["id"], GameOptions())

    async def broken(*args: object, **kwargs: object) -> None:
        raise ConnectionError("database gone")

    with monkeypatch.context() as patch:
        patch.setattr(live.records, "seat", broken)
        with pytest.raises(ConnectionError):
            await live.join(created["pin"], "Ada", ip="10.6.0.1", principal=None)
    lobby = await live.host_view(created["id"], host)
    assert lobby["players"] == 0 and lobby["lobby"] == []
    seat, _ = await live.join(created["pin"], "Ada", ip="10.6.0.1", principal=None)  # free again
    assert [a.id for a in await game_attempts(services, created["id"])] == [seat.player_id]


async def test_a_draw_is_made_once_per_game(api: Api, services: Services) -> None:
    live = live_service(services, Clock())
    teacher = await api.user("teacher")
    for i in range(10):
        r = await api.http.post(
            "/api/v1/bank/questions",
            json={
                "type": "true_false",
                "prompt": f"Capital {i}",
                "answer": True,
                "category": "Geo",
                "tags": ["y7"],
            },
            headers=teacher.headers,
        )
        assert r.status_code == 201, r.text
    quiz = await api.quiz(
        teacher,
        {
            "title": "Drawn",
            "questions": [{"type": "true_false", "prompt": "Fixed", "answer": True}],
            "draws": [{"count": 3, "category": "geo", "tag": "y7", "points": 1}],
        },
    )
    created = await live.create_game(who(teacher, Role.TEACHER), quiz["id"], GameOptions())
    assert created["questions"] == 4
    for n, name in enumerate(("Ann", "Ben", "Col")):
        await live.join(created["pin"], name, ip=f"10.3.0.{n}", principal=None)
    attempts = await game_attempts(services, created["id"])
    assert len(attempts) == 3
    assert len({tuple(a.question_ids) for a in attempts}) == 1  # the same for everyone
    assert len(set(attempts[0].question_ids)) == 4
    assert all(a.drawn and len(a.drawn) == 3 for a in attempts)


async def test_only_the_owner_or_an_admin_hosts(api: Api, services: Services) -> None:
    live = live_service(services, Clock())
    owner, other = await api.user("teacher"), await api.user("teacher")
    student, admin = await api.user("student"), await api.user("admin")
    quiz = await api.quiz(owner, all_types_quiz())
    with pytest.raises(Forbidden):
        await live.create_game(who(other, Role.TEACHER), quiz["id"], GameOptions())
    with pytest.raises(Forbidden):
        await live.create_game(who(student, Role.STUDENT), quiz["id"], GameOptions())
    created = await live.create_game(who(owner, Role.TEACHER), quiz["id"], GameOptions())
    for intruder in (who(other, Role.TEACHER), who(student, Role.STUDENT)):
        with pytest.raises(Forbidden):
            await live.host_view(created["id"], intruder)
        with pytest.raises(Forbidden):
            await live.control(created["id"], intruder, "start")
    assert (await live.host_view(created["id"], who(admin, Role.ADMIN)))["phase"] == "lobby"
    with pytest.raises(ServiceError):  # out of range
        await live.create_game(
            who(owner, Role.TEACHER), quiz["id"], GameOptions(question_seconds=500)
        )


async def test_pause_and_resume_keep_the_remaining_time(api: Api, services: Services) -> None:
    clock = Clock()
    live = live_service(services, clock)
    teacher = await api.user("teacher")
    host = who(teacher, Role.TEACHER)
    quiz = await api.quiz(teacher, all_types_quiz())
    created = await live.create_game(host, quiz["id"], GameOptions(question_seconds=20))
    await live.join(created["pin"], "Ada", ip="10.4.0.1", principal=None)
    game_id = created["id"]
    await live.control(game_id, host, "start")
    clock.now = T0 + 5_000
    paused = await live.control(game_id, host, "pause")
    assert paused["phase"] == "paused" and paused["remaining_ms"] == 15_000
    clock.now = T0 + 65_000  # a long pause: the question must not close meanwhile
    assert not await live.close_if_due(game_id, clock.now)
    resumed = await live.control(game_id, host, "resume")
    assert resumed["phase"] == "question" and resumed["remaining_ms"] == 15_000
    assert resumed["deadline_ms"] == T0 + 80_000
    assert not await live.close_if_due(game_id, T0 + 79_000)
    assert await live.close_if_due(
        game_id, T0 + 80_000 + services.settings.live_answer_grace_ms + 1
    )


async def test_joins_are_limited_per_address_and_per_game(api: Api, services: Services) -> None:
    live = live_service(
        services,
        Clock(),
        rate_limit_enabled=True,
        live_join_per_ip_per_minute=3,
        live_join_per_game_per_minute=6,
    )
    teacher = await api.user("teacher")
    quiz = await api.quiz(teacher, all_types_quiz())
    created = await live.create_game(who(teacher, Role.TEACHER), quiz["id"], GameOptions())
    pin = created["pin"]
    for n in range(3):
        await live.join(pin, f"Bot {n}", ip="10.5.0.1", principal=None)
    with pytest.raises(RateLimited) as limited:
        await live.join(pin, "Bot 3", ip="10.5.0.1", principal=None)
    assert 1 <= limited.value.retry_after <= 60
    with pytest.raises(RateLimited):  # guessing PINs counts too
        await live.join("123456", "Bot 4", ip="10.5.0.1", principal=None)
    for n in range(3):  # other addresses, until the game's own limit
        await live.join(pin, f"Kid {n}", ip=f"10.5.1.{n}", principal=None)
    with pytest.raises(RateLimited):
        await live.join(pin, "Kid 9", ip="10.5.1.9", principal=None)
    lobby = await live.host_view(created["id"], who(teacher, Role.TEACHER))
    assert lobby["players"] == 6
