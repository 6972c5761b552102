"""Points policies: documents on disk, their checks and tests, scoring of plain files."""
