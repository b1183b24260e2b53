"""A synthetic cohort calibrated to the published ketamine study, loaded through the services."""

from app.demo.generate import DemoPatient, generate
from app.demo.load import load_demo

__all__ = ["DemoPatient", "generate", "load_demo"]
