"""What a file is, before anything of it is unpickled.

:func:`file_globals` names the file's problem when it is not a torch
checkpoint (empty, text, HTML, a Git LFS pointer, another format, random
bytes, a damaged zip archive: every member's CRC-32 is verified, which torch
itself does not do) and otherwise returns every global its pickle refers to,
read with :mod:`pickletools` (nothing is unpickled).
"""
import _compat_pickle
import errno
import os.path as osp
import pickle
import pickletools
import zipfile
from typing import List, Optional, Set

from .errors import CheckpointError, CorruptCheckpointError

__all__ = ['file_globals', 'pickle_globals', 'pickle_globals_or_corrupt']

_ZIP_MAGIC = b'PK\x03\x04'
#: The first pickle of torch's legacy (pre-1.6, non-zip) format: its magic number.
_LEGACY_MAGIC = pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2)


def _text_problem(head: bytes) -> Optional[str]:
    try:
        text = head.decode('utf-8')
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # not just a character cut at the end
            return None
        text = head[:e.start].decode('utf-8')
    if not text or '\x00' in text:
        return None
    printable = sum(c.isprintable() or c in '\n\r\t' for c in text)
    if printable < 0.95 * len(text):
        return None
    lowered = text.lstrip().lower()
    if lowered.startswith('version https://git-lfs'):
        return 'it is a Git LFS pointer, not the checkpoint itself: fetch it with `git lfs pull`'
    if lowered.startswith(('<!doctype html', '<html')):
        return ('it is an HTML page, not a checkpoint (a failed download: an error or login '
                'page?)')
    first = text.strip().splitlines()[0] if text.strip() else ''
    return f'it is a text file, not a checkpoint (it begins with {first[:60]!r})'


def _format_problem(head: bytes, path: str) -> Optional[str]:
    """What ``head`` (the first bytes of a file) is, when it is not torch's format."""
    if head.startswith(_ZIP_MAGIC) or head.startswith(_LEGACY_MAGIC):
        return None
    if path.endswith('.safetensors'):
        return None  # torch.load reads these through safetensors, which runs no code
    if head.startswith(b'PK\x05\x06'):
        return 'it is an empty zip archive, not a checkpoint'
    if head.startswith(b'\x1f\x8b'):
        return 'it is gzip-compressed, not a torch checkpoint (decompress it first)'
    if head.startswith(b'\x89HDF\r\n\x1a\n'):
        return 'it is an HDF5 file (Keras or TensorFlow weights?), not a torch checkpoint'
    if head.startswith(b'\x93NUMPY'):
        return 'it is a numpy .npy file, not a torch checkpoint'
    if head[257:262] == b'ustar':
        return ('it is a tar archive, not a checkpoint that this torch writes (torch < 0.4 '
                'wrote tar files: re-save it with a current torch)')
    if head[:1] == b'\x80' and head[1:2] in (b'\x02', b'\x03', b'\x04', b'\x05'):
        return ('it is a plain Python pickle, not a torch checkpoint; it was not unpickled '
                '(unpickling can run code)')
    if len(head) > 9 and head[8:9] == b'{' and int.from_bytes(head[:8], 'little') < 1 << 30:
        return ('it looks like a safetensors file: give it the .safetensors extension or load '
                'it with safetensors.torch.load_file')
    text = _text_problem(head)
    if text:
        return text
    return ('it is not a torch checkpoint: neither a zip archive (the format of torch.save) nor '
            f'a legacy torch file (it begins with the bytes {head[:8].hex(" ")})')


def _check_zip(path: str, filename: str, note: str) -> bytes:
    """Verify the archive (names, storage, every CRC-32) and return its data.pkl."""

    def corrupt(problem):
        return CorruptCheckpointError(filename, problem, note)

    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = [info.filename for info in infos]
            if len(set(names)) != len(names):
                raise corrupt('its zip archive holds several members of the same name')
            pickles = [i for i in infos if i.filename.endswith('/data.pkl')]
            if len(pickles) != 1:
                raise corrupt('it is a zip archive without the one data.pkl of a checkpoint '
                              'written by torch.save')
            for info in infos:
                if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
                    raise corrupt(f'its member {info.filename!r} is compressed or encrypted, '
                                  'which torch.save never writes')
                with archive.open(info) as member:  # zipfile checks the CRC-32 at the end
                    while member.read(1 << 22):
                        pass
            return archive.read(pickles[0])
    except CheckpointError:
        raise
    except OSError as e:
        if e.errno not in (None, errno.EINVAL):  # EINVAL: a seek to an offset it holds
            raise
        raise corrupt(f'its zip archive is damaged ({e}): the file was truncated or altered '
                      '(an interrupted download or copy?)') from None
    except Exception as e:  # BadZipFile, EOFError, struct.error, ValueError, ...
        raise corrupt(f'its zip archive is damaged ({type(e).__name__}: {e}): the file was '
                      'truncated or altered (an interrupted download or copy?)') from None


def pickle_globals(data) -> Set[str]:
    """Every global that one pickle (bytes or a file object) refers to, read
    without unpickling anything, with the name mapping of torch's unpickler.

    Raises:
        ValueError: The bytes are not a complete pickle.
    """
    found: Set[str] = set()
    strings: List[str] = []
    for op, arg, _ in pickletools.genops(data):
        if op.name == 'GLOBAL':
            module, _, name = arg.partition(' ')
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            else:
                module = _compat_pickle.IMPORT_MAPPING.get(module, module)
            found.add(f'{module}.{name}')
        elif op.name == 'STACK_GLOBAL':
            found.add('.'.join(str(s) for s in strings[-2:]))
        elif op.name in ('SHORT_BINUNICODE', 'BINUNICODE', 'BINUNICODE8', 'UNICODE'):
            strings.append(arg)
    return found


def _legacy_globals(path: str, filename: str, note: str) -> Set[str]:
    found: Set[str] = set()
    with open(path, 'rb') as f:
        try:
            for _ in range(5):  # magic, protocol, sys_info, the object, storage keys
                found |= pickle_globals(f)
        except Exception as e:
            raise CorruptCheckpointError(
                filename, f'its legacy torch format is damaged ({type(e).__name__}: {e})',
                note) from None
    return found


def pickle_globals_or_corrupt(data: bytes, filename: str, note: str = '') -> Set[str]:
    """:func:`pickle_globals` of a checkpoint's ``data.pkl``; an incomplete pickle
    is a :class:`CorruptCheckpointError` naming the file."""
    try:
        return pickle_globals(data)
    except Exception as e:
        raise CorruptCheckpointError(filename, f'its data.pkl is not a complete pickle ({e})',
                                     note) from None


def file_globals(path: str, filename: str, note: str = '') -> Set[str]:
    """Every global that the checkpoint at ``path`` pickles, read without unpickling.

    Args:
        path (str): The local file.
        filename (str): How errors name it (the path or URL the user gave).
        note (str): Said after the name in errors. Defaults to ''.

    Raises:
        CorruptCheckpointError: The file is empty, not a torch checkpoint
            (the message says what it is instead) or damaged.
    """
    if osp.getsize(path) == 0:
        raise CorruptCheckpointError(filename, 'it is empty (0 bytes): an interrupted copy or '
                                     'download?', note)
    with open(path, 'rb') as f:
        head = f.read(4096)
    problem = _format_problem(head, path)
    if problem:
        raise CorruptCheckpointError(filename, problem, note)
    if head.startswith(_ZIP_MAGIC):
        return pickle_globals_or_corrupt(_check_zip(path, filename, note), filename, note)
    if head.startswith(_LEGACY_MAGIC):
        return _legacy_globals(path, filename, note)
    return set()  # .safetensors: read by safetensors, which runs no code
