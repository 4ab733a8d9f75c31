"""Review: the team's decisions (review.yaml) and the local review page."""

from runner.review.decisions import (
    PENDING,
    REVIEW_NAME,
    STATUSES,
    Decision,
    EarlierTake,
    Review,
    ReviewFileError,
    Status,
    load_review,
    orphaned,
    review_key,
    save_review,
    set_decision,
    update_review,
    with_status,
)

__all__ = [
    "PENDING",
    "REVIEW_NAME",
    "STATUSES",
    "Decision",
    "EarlierTake",
    "Review",
    "ReviewFileError",
    "Status",
    "load_review",
    "orphaned",
    "review_key",
    "save_review",
    "set_decision",
    "update_review",
    "with_status",
]
