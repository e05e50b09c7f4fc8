"""alprd: automated licence plate recognition for patrol vehicles."""

__version__ = "0.1.0"
