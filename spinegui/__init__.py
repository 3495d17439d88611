"""spinegui: measure scoliosis on spinal X-rays with a shape-aware landmark CNN."""

__version__ = "0.1.0"
