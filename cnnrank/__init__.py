"""cnnrank: exact NumPy simulation of gradient descent on two-layer CNNs (see README.md)."""

from cnnrank._version import __version__

__all__ = ["__version__"]
