-- ledger_lines: the lines of `ledger_text` (one big source), numbered by their place in it.
-- Input relation: ledger_text. Only the two-step parse (a source too big for one ordered pass)
-- numbers lines here, streaming on one thread; the one-pass parse numbers them by position in its
-- ordered output instead (`ingest_lines`).
SELECT source_index, position - 1 AS source_row, raw  -- source_row: from 0
FROM ledger_text
