"""Qt application shell and editing widgets (the only layer that imports Qt)."""
