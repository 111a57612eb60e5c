"""Scoring: leave-one-task-out rank correlation for predictors."""

from .correlation import Fold, LotoScore, loto_folds, loto_score, score_folds

__all__ = ["Fold", "LotoScore", "loto_folds", "loto_score", "score_folds"]
