"""Reports for legal review: the shared report model, one module per format, verification."""
