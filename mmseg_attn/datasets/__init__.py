from .toy import LAYOUTS, make_toy_dataset
from .transforms import (
                         CorruptSampleError,
                         LoadCheckedAnnotations,
                         LoadCheckedImageFromFile,
                         reset_skipped_samples,
                         skipped_samples,
)

__all__ = [
    'LAYOUTS', 'CorruptSampleError', 'LoadCheckedAnnotations', 'LoadCheckedImageFromFile',
    'make_toy_dataset', 'reset_skipped_samples', 'skipped_samples'
]
