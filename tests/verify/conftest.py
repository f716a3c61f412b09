"""Fixtures shared by the verify tests that train tiny models through ``run_all``."""

import pytest
import torch

import verify.runner


@pytest.fixture
def one_thread(monkeypatch):
    """One torch thread, also in ``run_all``'s in-process worker: the machine's other cores are busy, and
    an oversubscribed tiny model trains tens of times slower.  Use with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setattr(verify.runner, "_init_worker", lambda threads: torch.set_num_threads(1))
    yield
    torch.set_num_threads(threads)
