"""Fixtures of the leaderboard tests; the data itself is in leaderboard_data.py."""

from __future__ import annotations

import pytest

from tests.leaderboard.leaderboard_data import make_competition


@pytest.fixture
def competition():
    return make_competition()
