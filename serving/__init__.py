"""launchwatch serving package."""

__all__: list[str] = []
