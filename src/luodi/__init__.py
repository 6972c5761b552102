"""luodi (落地): open platform for new-citizen service centres."""

__version__ = "0.1.0"
