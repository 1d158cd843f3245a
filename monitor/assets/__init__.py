"""Bundled sample data: a CC BY 4.0 clip and the demo config for ``monitor demo``."""
