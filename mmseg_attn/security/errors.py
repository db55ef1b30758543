"""The errors of checkpoint loading: each names the file and what is wrong with it."""
import pickle
from typing import Iterable

__all__ = [
    'CheckpointError', 'CorruptCheckpointError', 'UnsafeCheckpointError', 'UpgradeError',
    'unsafe_checkpoint_error'
]

UPGRADE_ADVICE = (
    'If it is a checkpoint of an mmengine run made without mmseg_attn and you trust its source, '
    'rewrite it once with `python tools/model_converters/upgrade_checkpoint.py SRC DST --trust` '
    'and load DST.')


class CheckpointError(Exception):
    """A checkpoint could not be loaded; the message names the file and the problem.

    Attributes:
        filename (str): The file (or URL) at fault.
        problem (str): What is wrong with it.
    """
    prefix = 'Cannot load the checkpoint'

    def __init__(self, filename: str, problem: str, note: str = '') -> None:
        self.filename, self.problem, self.note = filename, problem, note
        where = f' ({note})' if note else ''
        super().__init__(f'{self.prefix} {filename!r}{where}: {problem}')

    def __reduce__(self):
        return type(self), (self.filename, self.problem, self.note)


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
    """A checkpoint holds pickled objects outside the allow-list (nothing of it ran)."""
    prefix = 'Refused to load the checkpoint'


class CorruptCheckpointError(CheckpointError, ValueError):
    """A file is not a checkpoint, is damaged, or holds values that no
    checkpoint writer produces."""


class UpgradeError(CheckpointError):
    """:func:`rewrite_trusted_checkpoint` could not make a checkpoint load securely."""
    prefix = 'Did not write'


def unsafe_checkpoint_error(filename: str, names: Iterable[str],
                            note: str = '') -> 'UnsafeCheckpointError':
    """The refusal of a file whose pickle names ``names`` outside the allow-list."""
    names = sorted(names)
    shown = ', '.join(names[:8]) + (', ...' if len(names) > 8 else '')
    return UnsafeCheckpointError(
        filename, f'it holds pickled objects outside the allow-list of mmseg_attn.compat '
        f'({shown}). Loading it could run arbitrary code, so nothing from it was executed. '
        + UPGRADE_ADVICE, note)
