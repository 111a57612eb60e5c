"""Publishing: the ranked leaderboard (Markdown, HTML, JSON) and uploads to the Hub."""

from .leaderboard import build_leaderboard
from .results import Results

__all__ = ["Results", "build_leaderboard"]
