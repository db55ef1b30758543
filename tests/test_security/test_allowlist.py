"""The allow-list holds validating rebuild functions: a file cannot give
mmengine's or numpy's objects a state of its own choosing, and the checkpoints
this package wrote before keep loading."""
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

import mmseg_attn  # noqa: F401
from mmseg_attn.compat import CorruptCheckpointError, load_checkpoint_file
from mmseg_attn.security.allowlist import CheckedArray
from tests.test_security.helpers import (
    RUNNER_CHECKPOINT,
    pickled_globals,
    runner_like_checkpoint,
)

NEEDS_ADD_SAFE_GLOBALS = pytest.mark.skipif(
    not hasattr(torch.serialization, 'add_safe_globals'),
    reason=f'torch {torch.__version__} has no torch.serialization.add_safe_globals (torch >= 2.4)')

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct, scalar
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct, scalar


class Reduce:
    """Pickles as ``func(*args)`` followed by ``BUILD state`` (when given)."""

    def __init__(self, func, args, state=None):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return (self.func, self.args) if self.state is None else (self.func, self.args,
                                                                   self.state)


def _dtype(typestr='i8', flags=0, byteorder='<'):
    return Reduce(np.dtype, (typestr, False, True),
                  (3, byteorder, None, None, None, -1, -1, flags))


def _array(shape=(2, ), dtype=None, data=b'\0' * 16, args=(np.ndarray, (0, ), b'b')):
    return Reduce(_reconstruct, args, (1, shape, dtype or _dtype(), False, data))


HOSTILE = {
    # replaces the class-wide statistics table of every HistoryBuffer in the process
    'HistoryBuffer statistics table': (
        Reduce(HistoryBuffer, (np.zeros(0), np.zeros(0), 10),
               {'statistics_methods': {'mean': torch.Size}}), 'Can only build'),
    'HistoryBuffer without arguments': (Reduce(HistoryBuffer, ()), 'missing'),
    'HistoryBuffer of unequal lengths': (
        Reduce(HistoryBuffer, (np.zeros(3), np.zeros(2), 10)), '3 values, 2 counts'),
    'HistoryBuffer longer than max_length': (
        Reduce(HistoryBuffer, (np.zeros(3), np.zeros(3), 2)), 'max_length 2'),
    'HistoryBuffer max_length': (
        Reduce(HistoryBuffer, (np.zeros(1), np.zeros(1), 10**12)), 'max_length'),
    'HistoryBuffer of 2-D arrays': (
        Reduce(HistoryBuffer, (np.zeros((2, 2)), np.zeros((2, 2)), 10)), '1-D numeric'),
    # an int64 dtype that claims to hold Python objects
    'dtype flags of object arrays': (_array(dtype=_dtype(flags=63)), 'flags'),
    'standalone dtype with object flags': (_dtype(flags=63), 'flags'),
    'object dtype': (_array(dtype=_dtype('O')), 'not one of the numeric dtypes'),
    'dtype with fields': (Reduce(np.dtype, ('i8', False, True),
                                 (3, '<', None, ('a', ), {'a': 1}, -1, -1, 0)), 'fields'),
    # numpy asked for a huge array before its data is even read
    'huge _reconstruct': (_array(args=(np.ndarray, (10**10, ), b'b')), 'not the'),
    'array larger than its data': (_array(shape=(10**9, )), 'needs 8000000000 bytes'),
    'array of negative size': (_array(shape=(-2, )), 'sizes >= 0'),
    'ndarray called directly': (Reduce(np.ndarray, ((10**10, ), )), 'called directly'),
    'bool array with other bytes': (_array(shape=(2, ), dtype=_dtype('b1', byteorder='|'),
                                           data=b'\x00\x07'), '0 and 1'),
    'scalar of the wrong size': (Reduce(scalar, (_dtype('f8'), b'\0' * 3)), 'instead of 8'),
    'bytes of a given size': (Reduce(bytes, (10**12, )), 'pickle writes only bytes()'),
}


@pytest.mark.parametrize('case', list(HOSTILE))
def test_hostile_state_is_refused(tmp_path, case, secure_loading):
    payload, problem = HOSTILE[case]
    path = str(tmp_path / 'hostile.pth')
    torch.save(dict(meta=dict(iter=1), payload=payload), path)
    HistoryBuffer()  # fills the class-wide table with mmengine's defaults
    table = dict(HistoryBuffer._statistics_methods)
    with pytest.raises(CorruptCheckpointError) as info:
        CheckpointLoader.load_checkpoint(path)
    assert path in str(info.value) and 'refuses' in str(info.value)
    if problem:
        assert problem in str(info.value)
    assert HistoryBuffer._statistics_methods == table
    assert HistoryBuffer([1.0, 3.0], [1, 1]).statistics('mean') == 2.0


def test_statistics_table_untouched_by_plain_torch_load(tmp_path, secure_loading):
    """The allow-list is global: torch.load with weights_only refuses the state too."""
    path = str(tmp_path / 'hostile.pth')
    torch.save(dict(payload=HOSTILE['HistoryBuffer statistics table'][0]), path)
    HistoryBuffer()
    table = dict(HistoryBuffer._statistics_methods)
    with pytest.raises(pickle.UnpicklingError, match='Can only build'):
        torch.load(path, weights_only=True)
    assert HistoryBuffer._statistics_methods == table


def test_valid_numpy_objects_round_trip(tmp_path, secure_loading):
    values = dict(
        f64=np.linspace(0, 1, 5), f32=np.ones((2, 3), np.float32), u8=np.arange(5, dtype='u1'),
        big_endian=np.arange(4, dtype='>i4'), fortran=np.asfortranarray(np.eye(3)),
        bools=np.array([True, False]), empty=np.zeros((0, 4)), c64=np.ones(2, np.complex64),
        scalar=np.float32(2.5), int_scalar=np.int64(-3), dtype=np.dtype('f2'))
    path = str(tmp_path / 'numpy.pth')
    torch.save(values, path)
    loaded = load_checkpoint_file(path)
    for key, value in values.items():
        got = loaded[key]
        assert type(got) is type(value), key
        if isinstance(value, np.ndarray):  # numpy unpickles in native byte order
            assert got.dtype == pickle.loads(pickle.dumps(value)).dtype and got.flags.writeable
            np.testing.assert_array_equal(got, value)
        else:
            assert got == value
    # plain torch.load returns arrays too (a validating ndarray subclass)
    plain = torch.load(path, weights_only=True)
    assert isinstance(plain['f64'], CheckedArray)
    np.testing.assert_array_equal(plain['f64'], values['f64'])


def test_checkpoint_written_by_the_previous_release_still_loads(secure_loading):
    """runner_iter_3.pth was written by mmengine's Runner with mmseg_attn 0.1's
    compat (HistoryBuffer reducer, numpy objects through numpy's reducers)."""
    assert osp.getsize(RUNNER_CHECKPOINT) < 64 * 1024
    ckpt = CheckpointLoader.load_checkpoint(RUNNER_CHECKPOINT, map_location='cpu')
    assert ckpt['meta']['iter'] == 3
    scalars = ckpt['message_hub']['log_scalars']
    assert isinstance(scalars['train/loss'], HistoryBuffer)
    assert len(scalars['train/loss'].data[0]) == 3
    assert np.isfinite(scalars['train/loss'].mean())
    keys = ckpt['rng_state']['numpy']['keys']
    assert type(keys) is np.ndarray and keys.dtype == np.uint32 and keys.shape == (624, )
    assert set(ckpt['state_dict']) >= {'conv.weight', 'conv.bias'}
    assert ckpt['optimizer']['param_groups'][0]['lr'] > 0


def test_new_checkpoints_use_only_the_globals_of_the_previous_release(tmp_path):
    path = str(tmp_path / 'new.pth')
    torch.save(runner_like_checkpoint(), path)
    # numpy 1.x (beside torch 2.1) names its module numpy.core
    numpy_1 = {name.replace('numpy._core.', 'numpy.core.')
               for name in pickled_globals(RUNNER_CHECKPOINT)}
    assert pickled_globals(path) <= pickled_globals(RUNNER_CHECKPOINT) | numpy_1 | {
        'numpy._core.multiarray.scalar', 'numpy.core.multiarray.scalar'}


@NEEDS_ADD_SAFE_GLOBALS
def test_classes_allow_listed_elsewhere_are_superseded(tmp_path):
    """Someone else's add_safe_globals([HistoryBuffer, ...]) would reopen the
    states: a secure load removes those entries first."""
    path = str(tmp_path / 'hostile.pth')
    torch.save(dict(payload=HOSTILE['HistoryBuffer statistics table'][0]), path)
    torch.serialization.add_safe_globals([HistoryBuffer, np.ndarray, np.dtype])
    HistoryBuffer()
    table = dict(HistoryBuffer._statistics_methods)
    with pytest.raises(CorruptCheckpointError, match='Can only build'):
        CheckpointLoader.load_checkpoint(path)
    assert HistoryBuffer._statistics_methods == table
    assert not {HistoryBuffer, np.ndarray, np.dtype} & {
        g for g in torch.serialization.get_safe_globals() if not isinstance(g, tuple)}


@pytest.mark.skipif(not hasattr(torch._weights_only_unpickler, '_get_user_allowed_globals'),
                    reason=f'torch {torch.__version__} has no user allow-list (torch >= 2.4)')
def test_torch_that_cannot_name_functions_gets_no_entries(monkeypatch):
    """torch 2.4 has add_safe_globals but reads every entry as a class: our
    (function, name) entries would break all its weights_only loads."""
    import torch._weights_only_unpickler as unpickler

    from mmseg_attn.security.allowlist import SAFE_CHECKPOINT_GLOBALS, install_allow_list

    def torch_2_4():
        raise AttributeError("'tuple' object has no attribute '__module__'")

    monkeypatch.setattr(unpickler, '_get_user_allowed_globals', torch_2_4)
    assert install_allow_list() is False
    assert not [g for g in torch.serialization.get_safe_globals() if g in SAFE_CHECKPOINT_GLOBALS]
    monkeypatch.undo()
    assert install_allow_list() is True
    assert all(g in torch.serialization.get_safe_globals() for g in SAFE_CHECKPOINT_GLOBALS)
