"""One router per resource."""

__all__ = ["detections", "evidence", "health", "known_sites", "raster", "reviews", "tiles"]
