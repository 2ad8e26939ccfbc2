"""What analysts read: relations over an output folder, the HTML report, source freshness, pairing."""
