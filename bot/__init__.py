"""Process start-up and settings: ``python -m bot run|shell|train``."""
