"""Reading an image for inference and pictures: checked before it is decoded.

:func:`load_image` reads what mmseg's ``LoadImageFromFile`` reads (BGR
``uint8``), but first says what is wrong with a file that is not a whole
image: a missing path or a folder, an empty or text file, a file in no image
format, a JPEG or PNG cut short (OpenCV decodes those into a picture whose
lower part is grey, without a word), or an image larger than
:data:`MAX_IMAGE_PIXELS` (read from the header, before anything is
decoded: a small PNG can hold a huge image). Every refusal is an
:class:`ImageError` naming the file.
"""
import os.path as osp
import struct
import threading
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image

__all__ = [
    'ImageError', 'LABEL_SUFFIXES', 'LOSSLESS_NAMES', 'MAX_IMAGE_PIXELS', 'image_bytes_problem',
    'image_size', 'label_format_problem', 'label_suffix_problem', 'load_image',
    'truncation_problem'
]

#: Largest image (height x width) that the inference and picture tools read
#: by default: 100 megapixels (10000 x 10000). Their ``--max-pixels`` option
#: (``max_pixels=`` here) raises it.
MAX_IMAGE_PIXELS = 100_000_000


_HEADER_LOCK = threading.Lock()


class ImageError(ValueError):
    """An image file cannot be used; the message names it and says why."""


def _text_start(data: bytes) -> Optional[str]:
    head = data[:64]
    try:
        text = head.decode('utf-8')
    except UnicodeDecodeError:
        return None
    if text and all(c.isprintable() or c in '\n\r\t' for c in text):
        return text.strip().splitlines()[0][:40] if text.strip() else ''
    return None


def image_bytes_problem(data: bytes) -> Optional[str]:
    """What makes ``data`` no image before decoding it, to follow "the file ...":
    empty or text; None otherwise."""
    if not data:
        return 'is empty (0 bytes)'
    text = _text_start(data)
    if text is not None:
        return f'is a text file, not an image (it begins with {text!r})'
    return None


def truncation_problem(data: bytes) -> Optional[str]:
    """Why the bytes of an image that decodes are not all of it, to follow "the
    file ...", or None: a JPEG or PNG that ends before its end marker (OpenCV
    decodes it into a picture whose missing part is grey, without a word)."""
    if data.startswith(b'\xff\xd8\xff') and not data.rstrip(b'\x00').endswith(b'\xff\xd9'):
        return ('is a truncated JPEG: it ends before its end marker (an interrupted download '
                'or copy?); decoding it would give a picture whose missing part is grey')
    if data.startswith(b'\x89PNG\r\n\x1a\n') and b'IEND' not in data[-32:]:
        return ('is a truncated PNG: it ends before its IEND chunk (an interrupted download '
                'or copy?)')
    return None


def image_size(path: str) -> Optional[Tuple[int, int]]:
    """``(height, width)`` from the file's header (nothing is decoded), or None
    where Pillow does not know the format."""
    with _HEADER_LOCK:
        # Pillow refuses to open a header of more than twice its own pixel
        # limit (a "decompression bomb"); only the header is read here
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            with Image.open(path) as image:
                width, height = image.size
        except Exception:  # an unknown format: left to the decoder
            return None
        finally:
            Image.MAX_IMAGE_PIXELS = limit
    return height, width


def load_image(path: str, shape: Optional[Sequence[int]] = None,
               max_pixels: Optional[int] = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Read an image as BGR uint8 (as mmseg's ``LoadImageFromFile``), checked.

    Args:
        path (str): Image file.
        shape (Sequence[int], optional): ``(H, W)`` to resize to.
            Defaults to None (keep the size).
        max_pixels (int, optional): Refuse larger images (height x width,
            from the header, before decoding). Defaults to
            :data:`MAX_IMAGE_PIXELS`; None: no limit.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8 BGR image.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        IsADirectoryError: ``path`` is a folder.
        ImageError: Anything else that makes the file no usable image.
    """
    path = str(path)
    if osp.isdir(path):
        raise IsADirectoryError(f'image {path!r} is a directory, not an image file')
    if not osp.isfile(path):
        raise FileNotFoundError(f'image {path!r} does not exist')
    size = image_size(path)
    if size is not None and max_pixels is not None and size[0] * size[1] > max_pixels:
        raise ImageError(f'image {path!r} is {size[0]} x {size[1]} = {size[0] * size[1]:,} '
                         f'pixels, more than the limit of {max_pixels:,}; resize it first or '
                         'raise the limit (--max-pixels)')
    with open(path, 'rb') as f:
        data = f.read()
    problem = image_bytes_problem(data)
    if problem:
        raise ImageError(f'image {path!r} {problem}')
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    problem = truncation_problem(data)
    if problem:
        raise ImageError(f'image {path!r} {problem}')
    if image is None:
        raise ImageError(f'image {path!r} cannot be decoded: it is not in an image format that '
                         f'OpenCV reads (it begins with the bytes {data[:8].hex(" ")})')
    if max_pixels is not None and image.shape[0] * image.shape[1] > max_pixels:
        raise ImageError(f'image {path!r} is {image.shape[0]} x {image.shape[1]} pixels, more '
                         f'than the limit of {max_pixels:,}; raise the limit (--max-pixels)')
    if shape is not None:
        h, w = shape
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    return image


#: TIFF compression codes that keep every value: none, CCITT (bilevel), LZW,
#: PackBits, Deflate, LZMA, Zstandard.
_LOSSLESS_TIFF = {1: 'none', 2: 'CCITT', 3: 'CCITT', 4: 'CCITT', 5: 'LZW', 8: 'Deflate',
                  32773: 'PackBits', 32946: 'Deflate', 34925: 'LZMA', 50000: 'Zstandard'}
_LOSSY_TIFF = {6: 'JPEG', 7: 'JPEG', 34712: 'JPEG 2000', 34892: 'JPEG', 50001: 'WebP'}
LOSSLESS_NAMES = 'PNG, BMP, GIF, PBM/PGM/PPM, TIFF (uncompressed, LZW, Deflate, PackBits) or ' \
    'lossless WebP'


def _tiff_problem(data: bytes) -> Optional[str]:
    order = '<' if data[:2] == b'II' else '>'
    try:
        (offset, ) = struct.unpack(order + 'I', data[4:8])
        (count, ) = struct.unpack(order + 'H', data[offset:offset + 2])
        for i in range(count):
            entry = data[offset + 2 + 12 * i:offset + 14 + 12 * i]
            tag, kind = struct.unpack(order + 'HH', entry[:4])
            if tag == 259:
                (code, ) = struct.unpack(order + ('H' if kind == 3 else 'I'),
                                         entry[8:10] if kind == 3 else entry[8:12])
                if code in _LOSSLESS_TIFF:
                    return None
                name = _LOSSY_TIFF.get(code, f'code {code}')
                return f'a TIFF image with {name} compression (lossy or unknown)'
        return None  # no compression tag: uncompressed
    except struct.error:
        return 'a TIFF image whose compression cannot be read (a damaged file?)'


def _webp_problem(data: bytes) -> Optional[str]:
    chunk = data[12:16]
    if chunk == b'VP8L':
        return None
    if chunk == b'VP8X':  # extended: lossless when its image chunk is VP8L
        if b'VP8L' in data[30:] and b'VP8 ' not in data[30:]:
            return None
    return 'a lossy WebP image'


def label_format_problem(data: bytes) -> Optional[str]:
    """What is wrong with the bytes of a label file, judged by their format.

    Label maps hold class indices: a lossy format (JPEG, lossy WebP, JPEG in
    TIFF) changes the values of the pixels around every edge while keeping
    them in range, so no later check can notice. The format is read from the
    bytes (magic numbers), not from the file name.

    Returns:
        str or None: None for the lossless formats ({names}); otherwise what
        the bytes are, to follow "label file is".
    """
    if data.startswith(b'\x89PNG\r\n\x1a\n') or data.startswith(b'BM') \
            or data[:6] in (b'GIF87a', b'GIF89a'):
        return None
    if len(data) > 2 and data[:1] == b'P' and data[1:2] in b'123456' \
            and data[2:3] in b' \t\r\n#':
        return None
    if data[:4] in (b'II*\x00', b'MM\x00*'):
        return _tiff_problem(data)
    if data[:4] == b'RIFF' and data[8:12] == b'WEBP':
        return _webp_problem(data)
    if data.startswith(b'\xff\xd8\xff'):
        return 'a JPEG image (lossy)'
    if data.startswith(b'\x00\x00\x00\x0cjP  \r\n\x87\n') or data.startswith(b'\xffO\xffQ'):
        return 'a JPEG 2000 image (possibly lossy)'
    return 'in an image format that is not known to be lossless'


label_format_problem.__doc__ = label_format_problem.__doc__.replace('{names}', LOSSLESS_NAMES)


#: File name suffixes of the label maps that the tools write: lossless
#: formats that hold 8- and 16-bit values (OpenCV writes TIFF with LZW).
LABEL_SUFFIXES = ('.png', '.tif', '.tiff')


def label_suffix_problem(path: str) -> Optional[str]:
    """Why a label map must not be written to ``path`` (by its suffix), or None:
    a lossy format (JPEG, WebP) changes the class of the pixels around edges."""
    suffix = osp.splitext(str(path))[1].lower()
    if suffix in LABEL_SUFFIXES:
        return None
    return (f'label maps are written losslessly, as {", ".join(LABEL_SUFFIXES)}; {path!r} '
            f'asks for {suffix or "no format"!r}' + (' (lossy: it would change the class of '
                                                     'the pixels around edges)'
                                                     if suffix in ('.jpg', '.jpeg', '.webp')
                                                     else ''))
