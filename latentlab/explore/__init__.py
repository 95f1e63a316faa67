"""Everything the app does that is not drawing: planes, paths, state, model operations.

Headless: never imports Qt.
"""
