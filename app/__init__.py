"""pro-registry: patient-reported outcomes for pain clinics."""

__version__ = "0.1.0"
