"""audiobrain: brain scores of speech networks and audio reconstruction from fMRI."""

__version__ = "0.1.0"
