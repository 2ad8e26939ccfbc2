"""Stage 2: events -> intervals, anomalies and roles; the checkpointed walk and its checkpoints."""
