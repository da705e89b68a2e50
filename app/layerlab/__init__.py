"""layerlab: a small, real container engine that shows the union filesystem at work."""

__version__ = "0.1.0"
