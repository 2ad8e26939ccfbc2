-- ledger_lines: a range of the lines of `ledger_text`, numbered from 1 (+ line_offset).
-- Input relation: ledger_text (one file's lines in file order). Variables: line_offset (lines of the
-- file before what this read covers), first_line and last_line (this query parses the lines
-- (first_line, last_line]; last_line NULL: to the end). Only the segmented parse (several
-- concurrent queries over one file) numbers lines here; one query per file numbers them by
-- position in its ordered output instead (`ingest_lines`).
SELECT *
FROM (
    SELECT
        row_number() OVER () + getvariable('line_offset') AS source_line,  -- runs on one thread
        raw
    FROM ledger_text
)
WHERE source_line > coalesce(getvariable('first_line'), 0)
    AND source_line <= coalesce(getvariable('last_line'), source_line)
