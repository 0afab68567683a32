"""Text environments with the gymnasium API, each in its own package."""
