"""Business logic: plain async functions that flush but never commit."""
