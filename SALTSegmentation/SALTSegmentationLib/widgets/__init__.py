"""Widget behaviour (the Qt-free controller) and the Qt views that bind it."""
