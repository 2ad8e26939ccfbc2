-- spooled_lines: a table macro, not a relation: the lines of the scratch Parquet files the Python
-- pre-scan spooled (prescan rejects, or the original text of rewritten lines), one row per line.
-- A spooled row stands for `lines` identical lines from `source_line` on (a run: a block of NULs a
-- power cut left), at most `run_lines`; this expands it, by a join with the numbers below
-- run_lines (unnest(range(...)) held about 14 bytes per line in memory while writing; this streams).
-- Inputs: `files`, the spooled Parquet files; `run_lines`, the longest run a row stands for.
CREATE OR REPLACE TEMP MACRO spooled_lines(files, run_lines) AS TABLE
    SELECT
        s.* EXCLUDE (source_line, lines),
        s.source_line + r.range AS source_line
    FROM read_parquet(files, hive_partitioning = false) AS s, range(run_lines) AS r
    WHERE r.range < s.lines;
