"""Tracks: one runtime per kind of submission (methods, predictors, transfer) over one skeleton
(`base.Track.run`: check -> key -> cached? -> compute in the sandbox -> store), a typed protocol for the
sandboxed predictor worker, typed entries, and one column spec per board that every view renders from.
`submit check` and `willitmerge leaderboard` both run submissions through `Track.run`."""

from .base import Harness, Track, hidden_from_submissions
from .boards import BOARDS
from .entry import Entry
from .methods import MethodTrack
from .predictors import PredictorTrack
from .transfer import TransferTrack, transfer_pending

TRACKS: dict[str, type[Track]] = {t.name: t for t in (MethodTrack, PredictorTrack, TransferTrack)}

__all__ = ["BOARDS", "Entry", "Harness", "MethodTrack", "PredictorTrack", "TRACKS", "Track", "TransferTrack",
           "hidden_from_submissions", "transfer_pending"]
