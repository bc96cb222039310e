"""rtmotion: real-time video motion transfer (Everybody Dance Now, made usable)."""

__version__ = "0.1.0"
