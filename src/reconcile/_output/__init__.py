"""Stage 4: a run's rows -> the committed output folder (staging, totals, manifests, commit, reuse,
bill versions), and its checks."""
