"""The restricted unpickler (torch's weights_only unpickler on torch 2.1 - 2.4)
builds only what the allow-list names, whatever opcodes the file uses."""
import io
import pickle
from collections import OrderedDict

import pytest
import torch

from mmseg_attn.security import unpickler
from mmseg_attn.security.allowlist import rebuild_history_buffer
from tests.test_security.helpers import RunsACommand, runner_like_checkpoint


def _load(data: bytes):
    return unpickler.load(io.BytesIO(data))


@pytest.mark.parametrize('data, problem', [
    # a global outside the allow-list, by name or on the stack
    (pickle.dumps(RunsACommand('/nonexistent/x'), protocol=2), 'posix.system was not an allowed'),
    (b'\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93.',
     'posix.system was not an allowed'),
    (b'cbuiltins\ngetattr\n.', 'builtins.getattr was not an allowed'),
    # opcodes that create objects of an allowed class without its rebuild function
    (b'(icollections\nOrderedDict\n.', 'opcode'),
    (b'\x80\x02ccollections\nOrderedDict\n)\x81.', 'unsupported class'),
    (b'\x80\x04ccollections\nOrderedDict\n)}\x92.', 'opcode'),
    (b'\x80\x02\x82\x01.', 'opcode'),
    (b'Pstorage\n.', 'opcode'),
    # a state given to what is not a tensor, dict or validating rebuild
    (b'\x80\x02ctorch\nSize\n)R}b.', 'Can only build'),
])
def test_what_is_not_allow_listed_is_refused(data, problem):
    with pytest.raises(pickle.UnpicklingError, match=problem):
        _load(data)


def test_allow_listed_calls_build_their_objects():
    assert _load(b'\x80\x02ccollections\nOrderedDict\n)R.') == OrderedDict()
    assert unpickler.allowed_globals()['mmengine.logging.history_buffer.HistoryBuffer'] \
        is rebuild_history_buffer
    assert _load(pickle.dumps(b'\x00\xff', protocol=2)) == b'\x00\xff'  # _codecs.encode


def test_a_whole_checkpoint_loads_through_torch(tmp_path, monkeypatch):
    """As torch's weights_only unpickler: tensors, storages, numpy, HistoryBuffer."""
    monkeypatch.setattr(torch.serialization, '_weights_only_unpickler', unpickler)
    path = str(tmp_path / 'ckpt.pth')
    ckpt = runner_like_checkpoint()
    torch.save(ckpt, path)
    loaded = torch.load(path, weights_only=True)
    torch.testing.assert_close(loaded['state_dict'], ckpt['state_dict'])
    assert loaded['message_hub']['log_scalars']['train/loss'].mean() == pytest.approx(
        ckpt['message_hub']['log_scalars']['train/loss'].mean())
