"""The engine's foundations: instants and periods, the column contract, the DuckDB seam, files,
progress, signals, the file records every stage checks."""
