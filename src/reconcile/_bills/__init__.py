"""Bills after the run: closing a month, and what changed between two versions of a period."""
