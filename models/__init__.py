"""launchwatch models package."""

__all__: list[str] = []
