"""De-identified row-level exports (SPEC §3): rows, file formats and the data dictionary."""
