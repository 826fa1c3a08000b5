"""The leaderboard site: a static ranking and one page per team, rendered from store records (see render.py)."""
