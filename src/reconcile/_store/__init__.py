"""Stage 1's home: the event store on disk (its layout and readers, and its writing side)."""
