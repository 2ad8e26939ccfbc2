"""Stage 3: intervals + price book + tenants (+ contracts) -> priced slices and invoice lines."""
