"""Review: the team's decisions (review.yaml) and the local review page."""
