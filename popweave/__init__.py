"""popweave: population health management on a canonical data model."""

__version__ = "0.1.0"
__all__ = ["__version__"]
