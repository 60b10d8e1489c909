"""camscan: find the video-surveillance devices on a site's network and name their real maker."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
