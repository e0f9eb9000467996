"""synthesis stage of dancenow (built in a later issue)."""
