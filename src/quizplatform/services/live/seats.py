"""A player's seat in a live game as a signed token the browser keeps: a refresh, a new
network or another instance puts the player back into the game with their points.

The token is ``<payload>.<signature>``, both base64url: the payload names the game, the
player and the nickname; the signature is HMAC-SHA256 with the site's secret key over a
purpose prefix and the payload, so a token of another purpose (or a changed field) does
not verify. A seat does not expire by itself: it is worth nothing once its game has
ended or its player was kicked, which the store says.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from quizplatform.services.errors import NotAuthenticated

_PURPOSE = b"quizplatform live seat v1\n"
_MAX_TOKEN_CHARS = 512


@dataclass(frozen=True)
class Seat:
    """What a signed seat token carries."""

    game_id: str
    player_id: str
    nickname: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SeatSigner:
    """Signs and checks seat tokens with one secret key."""

    def __init__(self, secret_key: str) -> None:
        self._key = hashlib.sha256(b"live-seat:" + secret_key.encode()).digest()

    def _signature(self, payload: bytes) -> bytes:
        return hmac.new(self._key, _PURPOSE + payload, hashlib.sha256).digest()

    def sign(self, seat: Seat) -> str:
        """The token of ``seat``."""
        payload = "\n".join((seat.game_id, seat.player_id, seat.nickname)).encode()
        return f"{_b64(payload)}.{_b64(self._signature(payload))}"

    def verify(self, token: str) -> Seat:
        """The seat a token carries; ``NotAuthenticated`` if it is malformed or forged."""
        if not isinstance(token, str) or len(token) > _MAX_TOKEN_CHARS or token.count(".") != 1:
            raise NotAuthenticated("not a seat token")
        encoded, signature = token.split(".")
        try:
            payload, given = _unb64(encoded), _unb64(signature)
        except (binascii.Error, ValueError) as exc:
            raise NotAuthenticated("not a seat token") from exc
        if not hmac.compare_digest(given, self._signature(payload)):
            raise NotAuthenticated("the seat token does not verify")
        parts = payload.decode("utf-8", "replace").split("\n")
        if len(parts) != 3 or not all(parts[:2]):
            raise NotAuthenticated("not a seat token")
        return Seat(*parts)
