"""A live game in real browsers (issue 19): a teacher hosts it on a projector-sized
screen, three players join on phones in their own browser contexts, one of them reloads
the page in the middle of a question, answers, and their points count; the host reloads
and gets the game back where it is. Every screen passes axe; screenshots for the docs
(``docs/screenshots/live-host.png``, ``live-host-results.png``, ``live-player.png`` with
QUIZ_UPDATE_SCREENSHOTS=1)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, WebSocketRoute, expect

from tests.browser.harness import BrowserPage, Seeder
from tests.web.helpers import SESSION_COOKIE

NICKNAMES = ("Ada", "Grace", "Linus")


def _live_quiz() -> dict[str, Any]:
    return {
        "title": "Planets, live",
        "description": "Three quick questions for the whole class.",
        "tags": [],
        "settings": {"shuffle_options": False},
        "questions": [
            {
                "type": "single_choice",
                "prompt": "Which planet is the largest?",
                "options": [
                    {"text": "Mars"},
                    {"text": "Jupiter", "correct": True},
                    {"text": "Venus"},
                    {"text": "Mercury"},
                ],
            },
            {"type": "true_false", "prompt": "Saturn has rings.", "answer": True},
            {
                "type": "numeric",
                "prompt": "How many planets are there in the solar system?",
                "answers": [{"value": 8, "tolerance": 0}],
            },
            {"type": "essay", "prompt": "Left out of live games", "points": 5},
        ],
    }


@asynccontextmanager
async def _screen(
    browser: Browser,
    server: str,
    width: int,
    height: int,
    token: str | None = None,
    *,
    dark: bool = False,
) -> AsyncIterator[BrowserPage]:
    """A browser context of its own (cookies, localStorage) at one screen size."""
    context = await browser.new_context(
        viewport={"width": width, "height": height},
        device_scale_factor=1,
        color_scheme="dark" if dark else "light",
    )
    context.set_default_timeout(15_000)
    if token is not None:
        await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": server}])
    checked = BrowserPage(await context.new_page(), server)
    try:
        yield checked
        assert not checked.problems, "\n".join(checked.problems)
    finally:
        await context.close()


async def _join(player: BrowserPage, pin: str, nickname: str) -> None:
    await player.visit(f"/live/join?pin={pin}")
    await expect(player.page.get_by_label("Game PIN")).to_have_value(pin)
    await player.page.get_by_label("Nickname").fill(nickname)
    await player.page.get_by_role("button", name="Join").click()
    await player.page.wait_for_url("**/live/play")
    await expect(player.page.get_by_role("heading", level=1)).to_have_text("You are in!")
    await expect(player.page.locator("#play-nick")).to_have_text(nickname)
    assert "seat=" not in player.page.url  # the token went to localStorage, not the address
    await player.check()
    await player.no_horizontal_scroll()


async def _choose(player: BrowserPage, name: str, *, last: bool = False) -> None:
    """Tap an answer; "recorded" comes back, or for the last player to answer, at once
    the result (everyone has answered: the question closes)."""
    await player.page.get_by_role("button", name=re.compile(name)).click()
    await _recorded(player, last=last)


async def _recorded(player: BrowserPage, *, last: bool = False) -> None:
    if last:
        await expect(player.page.locator("#play-result")).to_be_visible()
    else:
        await expect(player.page.locator("#play-status")).to_have_text(
            "Answer recorded. Wait for the results."
        )


async def test_a_live_game_with_three_players_a_refresh_and_a_podium(
    browser: Browser, server: str, seed: Seeder, screenshots: Path
) -> None:
    teacher = seed.account("teacher")
    quiz = seed.quiz(teacher, _live_quiz())
    async with (
        _screen(browser, server, 1280, 900, teacher["token"]) as host,
        _screen(browser, server, 375, 740) as ada,
        _screen(browser, server, 375, 740) as grace,
        _screen(browser, server, 375, 740, dark=True) as linus,  # axe in the dark scheme too
    ):
        # The teacher opens a game from the quiz's editor page.
        await host.visit(f"/teach/quizzes/{quiz['id']}")
        await host.page.get_by_role("link", name="Play live").click()
        await host.page.wait_for_url(f"**/teach/quizzes/{quiz['id']}/live")
        await host.check()
        await host.page.get_by_label("Seconds per question").fill("60")
        await host.page.get_by_role("button", name="Open the lobby").click()
        await host.page.wait_for_url(re.compile(r".*/live/host/[0-9a-f-]+$"))
        pin = re.sub(r"\D", "", await host.page.locator(".host-pin").inner_text())
        assert len(pin) == 6
        await expect(host.page.locator(".host-qr")).to_be_visible()
        assert await host.page.locator(".host-qr").evaluate("img => img.naturalWidth") > 0
        await host.check()

        players = {"Ada": ada, "Grace": grace, "Linus": linus}
        for nickname, player in players.items():
            await _join(player, pin, nickname)
        # The lobby fills in through the host's socket, without a reload.
        await expect(host.page.locator("#player-count")).to_have_text("3")
        await expect(host.page.locator("#host-connection")).to_be_empty()  # no fallback
        for nickname in NICKNAMES:
            await expect(host.page.locator(".host-players")).to_contain_text(nickname)
        await host.check()

        # Question 1: single choice, shapes and colours on the phones.
        await host.page.get_by_role("button", name="Start the game").click()
        await expect(host.page.locator(".host-progress")).to_contain_text("Question 1 of 3")
        for player in players.values():
            await expect(player.page.get_by_role("heading", level=1)).to_have_text(
                "Question 1 of 3"
            )
        await expect(ada.page.locator(".play-choice")).to_have_count(4)
        await ada.check()
        await ada.no_horizontal_scroll()
        await ada.page.screenshot(path=str(screenshots / "live-player.png"))
        await host.check()

        await _choose(ada, "Jupiter")
        await expect(host.page.locator("#answer-count")).to_have_text("1")
        await host.page.screenshot(path=str(screenshots / "live-host.png"))
        # Grace's phone reloads mid-question: back in the same question, she answers,
        # and her points count.
        await grace.page.reload()
        await expect(grace.page.get_by_role("heading", level=1)).to_have_text("Question 1 of 3")
        await expect(grace.page.locator("#play-nick")).to_have_text("Grace")
        await grace.check()
        await _choose(grace, "Jupiter")
        await _choose(linus, "Mars", last=True)

        # Everyone has answered: the question closes before its 60 s.
        await expect(host.page.locator(".host-progress")).to_contain_text("results")
        await expect(host.page.locator(".dist__row--right")).to_contain_text("Jupiter")
        await expect(host.page.locator(".host-board")).to_contain_text("Grace")
        await host.check()
        await host.page.screenshot(path=str(screenshots / "live-host-results.png"))
        for nickname in ("Ada", "Grace"):
            player = players[nickname]
            await expect(player.page.locator("#play-result")).to_contain_text("Right! +")
            assert await _score(player) > 0, nickname
        await expect(linus.page.locator("#play-result")).to_have_text("Not right this time.")
        assert await _score(linus) == 0
        await grace.check()

        # Question 2: the host reloads mid-question and sees it as it is.
        await host.page.get_by_role("button", name="Next question").click()
        await expect(host.page.locator(".host-progress")).to_contain_text("Question 2 of 3")
        await _choose(ada, "True")
        await host.page.reload()
        await expect(host.page.locator(".host-progress")).to_contain_text("Question 2 of 3")
        await expect(host.page.locator("#answer-count")).to_have_text("1")
        left = int(await host.page.locator("#host-countdown").inner_text())
        assert 0 < left <= 60
        await host.check()
        await _choose(grace, "True")
        await _choose(linus, "False", last=True)
        await expect(host.page.locator(".host-progress")).to_contain_text("results")
        await expect(host.page.locator(".dist__row--right")).to_contain_text("True")
        await expect(host.page.locator(".dist__row--right .dist__count")).to_contain_text("2")

        # Question 3: a number typed in; then the podium.
        await host.page.get_by_role("button", name="Next question").click()
        for player, value in ((ada, "8"), (grace, "8"), (linus, "9")):
            await expect(player.page.get_by_label("Your number")).to_be_visible()
            await player.page.get_by_label("Your number").fill(value)
            await player.page.get_by_role("button", name="Send answer").click()
            await _recorded(player, last=player is linus)
        await expect(host.page.locator(".host-progress")).to_contain_text("results")
        await host.page.get_by_role("button", name="Show the podium").click()
        await expect(host.page.locator(".podium")).to_be_visible()
        podium = await host.page.locator(".podium__nick").all_inner_texts()
        assert set(podium[:2]) == {"Ada", "Grace"} and podium[2] == "Linus"
        await host.check()
        for player in players.values():
            await expect(player.page.get_by_role("heading", level=1)).to_have_text("Game over")
            await player.check()
        await expect(linus.page.locator(".play-big")).to_contain_text("You finished 3rd")


async def _score(player: BrowserPage) -> int:
    text = await player.page.locator("#play-score").inner_text()
    match = re.match(r"(\d+) points", text)
    assert match, text
    return int(match.group(1))


async def test_a_player_whose_network_blocks_websockets_plays_over_http(
    browser: Browser, server: str, seed: Seeder
) -> None:
    """Every socket refused: after 3 failed attempts the page long-polls the state and
    posts its answer; the host's screen, refused too, re-fetches itself."""
    teacher = seed.account("teacher")
    quiz = seed.quiz(teacher, _live_quiz())
    async with (
        _screen(browser, server, 1280, 900, teacher["token"]) as host,
        _screen(browser, server, 375, 740) as player,
    ):
        refused: list[str] = []

        async def refuse(route: WebSocketRoute) -> None:
            refused.append(route.url)
            await route.close(code=1011)

        await host.page.context.route_web_socket(re.compile(r".*/api/v1/live/ws$"), refuse)
        await player.page.context.route_web_socket(re.compile(r".*/api/v1/live/ws$"), refuse)
        await host.visit(f"/teach/quizzes/{quiz['id']}/live")
        await host.page.get_by_role("button", name="Open the lobby").click()
        await host.page.wait_for_url(re.compile(r".*/live/host/[0-9a-f-]+$"))
        await expect(host.page.locator("#host-connection")).to_contain_text("every 2 seconds")
        pin = re.sub(r"\D", "", await host.page.locator(".host-pin").inner_text())

        await _join(player, pin, "Hedy")
        await expect(host.page.locator("#player-count")).to_have_text("1")
        await host.page.get_by_role("button", name="Start the game").click()
        await expect(player.page.get_by_role("heading", level=1)).to_have_text("Question 1 of 3")
        await _choose(player, "Jupiter", last=True)
        await expect(player.page.locator("#play-result")).to_contain_text("Right! +")
        assert await _score(player) > 0
        await expect(host.page.locator(".host-progress")).to_contain_text("results")
        await player.check()
        await host.check()
        assert len(refused) >= 6, refused  # 3 tries each, then no more


@pytest.mark.parametrize(
    "alone",
    [
        False,
        True,
    ],
    ids=["beside-another-player", "alone-on-its-instance"],
)
async def test_the_host_removes_a_player_from_the_lobby(
    browser: Browser, server: str, seed: Seeder, alone: bool
) -> None:
    teacher = seed.account("teacher")
    quiz = seed.quiz(teacher, _live_quiz())
    async with (
        _screen(browser, server, 1280, 900, teacher["token"]) as host,
        _screen(browser, server, 375, 740) as player,
        _screen(browser, server, 375, 740) as other,
    ):
        await host.visit(f"/teach/quizzes/{quiz['id']}/live")
        await host.page.get_by_role("button", name="Open the lobby").click()
        await host.page.wait_for_url(re.compile(r".*/live/host/[0-9a-f-]+$"))
        pin = re.sub(r"\D", "", await host.page.locator(".host-pin").inner_text())
        await _join(player, pin, "Spammy")
        if not alone:
            await _join(other, pin, "Stays")
        await expect(host.page.locator("#player-count")).to_have_text("1" if alone else "2")
        await host.page.get_by_role("button", name="Remove Spammy").click()
        await expect(host.page.locator("#player-count")).to_have_text("0" if alone else "1")
        await expect(host.page.locator("#host-state")).not_to_contain_text("Spammy")
        await expect(player.page.get_by_role("heading", level=1)).to_have_text(
            "Removed from the game", timeout=5_000
        )
        await expect(player.page.get_by_role("link", name="Join a game")).to_be_visible()
        await host.check()
        await player.check()
        # The seat is forgotten: a reload does not sit them back down.
        await player.page.reload()
        await expect(player.page.get_by_role("heading", level=1)).to_have_text("No game joined")
        if not alone:
            await expect(other.page.get_by_role("heading", level=1)).to_have_text("You are in!")


async def test_an_answer_lost_with_its_socket_is_sent_again_and_every_kind_of_question(
    browser: Browser, server: str, seed: Seeder
) -> None:
    """The socket dies with the answer on it (never acknowledged): the page reconnects and
    sends it again, and it counts. Then multiple choice, ordering and short answer on a
    phone, with the keyboard for the ordering."""
    teacher = seed.account("teacher")
    quiz = seed.quiz(
        teacher,
        {
            "title": "Kinds",
            "settings": {"shuffle_options": False},
            "questions": [
                {
                    "type": "single_choice",
                    "prompt": "Largest?",
                    "options": [{"text": "Jupiter", "correct": True}, {"text": "Mars"}],
                },
                {
                    "type": "multiple_choice",
                    "prompt": "Gas giants?",
                    "options": [
                        {"text": "Jupiter", "weight": 50},
                        {"text": "Saturn", "weight": 50},
                        {"text": "Mars", "weight": -100},
                    ],
                },
                {
                    "type": "ordering",
                    "prompt": "From the Sun outwards",
                    "items": [{"text": "Mercury"}, {"text": "Venus"}, {"text": "Earth"}],
                },
                {
                    "type": "short_answer",
                    "prompt": "The red planet?",
                    "answers": [{"text": "Mars"}],
                },
            ],
        },
    )
    async with (
        _screen(browser, server, 1280, 900, teacher["token"]) as host,
        _screen(browser, server, 375, 740) as player,
    ):
        dropped: list[str] = []
        closing: list[asyncio.Future[None]] = []

        async def lose_the_first_answer(route: WebSocketRoute) -> None:
            upstream = route.connect_to_server()

            def to_server(message: str | bytes) -> None:
                if not dropped and '"type":"answer"' in str(message).replace(" ", ""):
                    dropped.append(str(message))
                    closing.append(asyncio.ensure_future(route.close(code=4000)))
                    return
                upstream.send(message)

            route.on_message(to_server)

        await player.page.context.route_web_socket(
            re.compile(r".*/api/v1/live/ws$"), lose_the_first_answer
        )
        await host.visit(f"/teach/quizzes/{quiz['id']}/live")
        await host.page.get_by_role("button", name="Open the lobby").click()
        await host.page.wait_for_url(re.compile(r".*/live/host/[0-9a-f-]+$"))
        pin = re.sub(r"\D", "", await host.page.locator(".host-pin").inner_text())
        await _join(player, pin, "Katherine")
        await host.page.get_by_role("button", name="Start the game").click()

        await player.page.get_by_role("button", name=re.compile("Jupiter")).click()
        await expect(player.page.locator("#play-result")).to_contain_text("Right! +")
        assert len(dropped) == 1 and await _score(player) > 0

        await host.page.get_by_role("button", name="Next question").click()
        await player.page.get_by_role("button", name=re.compile("Jupiter")).click()
        await player.page.get_by_role("button", name=re.compile("Saturn")).click()
        await expect(
            player.page.get_by_role("button", name=re.compile("Saturn"))
        ).to_have_attribute("aria-pressed", "true")
        await player.check()
        await player.page.get_by_role("button", name="Send answer").click()
        await expect(player.page.locator("#play-result")).to_contain_text("Right! +")

        await host.page.get_by_role("button", name="Next question").click()
        items = player.page.locator(".play-order__text")
        await expect(items).to_have_text(["Earth", "Mercury", "Venus"])  # sorted by text
        await player.page.get_by_role("button", name="Move Earth down").click()
        await expect(player.page.get_by_role("button", name="Move Earth down")).to_be_focused()
        await player.page.keyboard.press("Enter")  # the same button, again: Earth goes last
        await expect(items).to_have_text(["Mercury", "Venus", "Earth"])
        await player.check()
        await player.page.get_by_role("button", name="Send answer").click()
        await expect(player.page.locator("#play-result")).to_contain_text("Right! +")

        await host.page.get_by_role("button", name="Next question").click()
        await player.page.get_by_label("Your answer").fill("Mars")
        await player.page.get_by_role("button", name="Send answer").click()
        await expect(player.page.locator("#play-result")).to_contain_text("Right! +")
        await expect(host.page.locator(".host-big")).to_contain_text("Right answer: Mars")
        await host.check()
        await player.check()
