"""Live games (issue 19): the game store (``store.py``) and the game service."""
