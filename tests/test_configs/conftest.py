import pytest
import torch


@pytest.fixture(autouse=True, scope='module')
def _one_thread():
    """Full-size models on a busy 2-core machine run much faster on one thread
    (OpenMP threads otherwise wait for each other)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
