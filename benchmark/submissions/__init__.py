"""Submissions: folders under `submissions/predictors/` and `submissions/methods/`, validated,
then run in a sandboxed worker process each (see `benchmark.sandbox`)."""

from .changed import ChangedFolder, GitError, changed_submissions
from .checks import check_predictions_file, check_submission
from .loading import discover, folder_sha256, load_method, load_predictor
from .schema import MethodSubmission, PredictorSubmission, SubmissionError, read_submission

__all__ = ["ChangedFolder", "GitError", "MethodSubmission", "PredictorSubmission", "SubmissionError",
           "changed_submissions", "check_predictions_file", "check_submission", "discover", "folder_sha256",
           "load_method", "load_predictor", "read_submission"]
