"""Blind rounds: suites drawn from a secret, scored before anyone sees them, revealed and verifiable.

secret (draws, sealing key) -> draw (the round's recipe) -> opening (build, ground truth, commitment)
-> scoring (every eligible submission, aggregates published) -> reveal / verify.
"""

from ..suite.build.pool import pool_table
from ..suite.build.recipe import ROUND_SHAPES, RoundShape
from .draw import draw_recipe
from .figures import BlindScores
from .layout import BLIND_DIR, Commitment, RoundPaths
from .opening import open_round
from .reveal import reveal_round, verify_round
from .scoring import eligible, first_commit, score_round
from .secret import Secret, SecretError, new_secret

__all__ = ["BLIND_DIR", "ROUND_SHAPES", "BlindScores", "Commitment", "RoundPaths", "RoundShape", "Secret", "SecretError",
           "draw_recipe", "eligible", "first_commit", "new_secret", "open_round", "pool_table", "reveal_round",
           "score_round", "verify_round"]
