"""Reading an image for inference and pictures, as mmseg's ``LoadImageFromFile`` reads it."""
from typing import Optional, Sequence

import cv2
import numpy as np

__all__ = ['load_image']


def load_image(path: str, shape: Optional[Sequence[int]] = None) -> np.ndarray:
    """Read an image as BGR uint8 (as mmseg's ``LoadImageFromFile``).

    Args:
        path (str): Image file.
        shape (Sequence[int], optional): ``(H, W)`` to resize to.
            Defaults to None (keep the size).

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8 BGR image.
    """
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f'cannot read an image from {path!r}')
    if shape is not None:
        h, w = shape
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    return image
