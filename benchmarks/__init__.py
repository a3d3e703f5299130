"""launchwatch benchmarks package."""

__all__: list[str] = []
