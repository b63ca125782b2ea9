"""Custom actions of the assistant, one module per area, over the store
layer in core.store. Served by ``rasa run actions --actions actions``."""
