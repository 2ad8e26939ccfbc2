-- ledger_lines: a range of the lines of `ledger_text`, numbered from 1 (+ line_offset).
-- Input relation: ledger_text (one file's lines with their place in it). Variables: line_offset
-- (lines of the file before what this read covers), first_line and last_line (this query parses
-- the lines (first_line, last_line]; last_line NULL: to the end). Only the two-step parse (a file
-- too big for one ordered pass) numbers lines here, streaming on one thread; one query per file
-- numbers them by position in its ordered output instead (`ingest_lines`).
SELECT position + getvariable('line_offset') AS source_line, raw
FROM ledger_text
WHERE position + getvariable('line_offset') > coalesce(getvariable('first_line'), 0)
    AND position + getvariable('line_offset') <= coalesce(getvariable('last_line'), 9223372036854775807)
