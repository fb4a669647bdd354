"""plantctl: monitoring and dosing control for industrial wastewater treatment."""

__version__ = "0.1.0"
