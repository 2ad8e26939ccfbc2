-- inventory_findings: the latest inventory audit's findings: resources the platform's snapshots and the ledger disagree on, with the money at risk
-- Input: variable output_dir (the output folder, its glob characters escaped: never a pattern).
-- From inventory/findings.parquet, written by `reconcile audit --output` or the nightly job with
-- --inventory (each audit replaces it). One row per finding: code (missing_start, missing_stop,
-- shape_drift), the resource and its tenant, the snapshots that show it (first_seen_at ..
-- last_seen_at; seen_before_at / seen_after_at: the snapshots around them that agreed with the
-- ledger), the ranges of the instants the ledger missed, and the money: direction (unbilled,
-- overbilled) and at_risk_min <= |change to the window's bill| <= at_risk_max in currency, exact
-- (docs/SPEC.md, "Inventory audit"); proposed: the ledger lines `--propose` writes for it.
SELECT *
FROM read_parquet(getvariable('output_dir') || '/inventory/findings.parquet', hive_partitioning = false)
