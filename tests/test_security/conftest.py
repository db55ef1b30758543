import pytest
import torch

from mmseg_attn.security import unpickler


@pytest.fixture(params=['allow-list', 'restricted-unpickler'])
def secure_loading(request, monkeypatch):
    """Run a test with each way of keeping checkpoints data: torch's allow-list
    (``add_safe_globals`` with functions, torch >= 2.5) and the restricted
    unpickler that replaces torch's ``weights_only`` one where torch cannot
    register functions (torch 2.1 - 2.4). On a newer torch the second is
    installed for the test, as the package does on an older one."""
    if request.param == 'restricted-unpickler':
        monkeypatch.setattr(torch.serialization, '_weights_only_unpickler', unpickler)
        assert unpickler.installed()
    elif unpickler.installed():
        pytest.skip(f'torch {torch.__version__} cannot allow-list functions: the restricted '
                    'unpickler is its only secure path (tested by the other case)')
    return request.param
