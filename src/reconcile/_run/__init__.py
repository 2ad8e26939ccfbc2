"""The orchestration: a run session over the stages, one period's run, the nightly job, the demo,
the scrub, and what they report."""
