"""Synthetic spinal radiographs ("phantoms") with exact landmarks and Cobb angles.

``generate_phantom`` renders one image; ``generate_batch`` a reproducible
stream of independent ones. See ``generator`` for the guarantees.
"""

from spinegui.core.phantom.generator import (
    DEFAULT_OPTIONS,
    Phantom,
    batch_seeds,
    generate_batch,
    generate_phantom,
)

__all__ = ["DEFAULT_OPTIONS", "Phantom", "batch_seeds", "generate_batch", "generate_phantom"]
