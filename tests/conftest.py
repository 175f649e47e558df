"""Shared test settings."""

import torch

# Test tensors are small: one intra-op thread is faster and immune to oversubscription on shared 2-core machines.
torch.set_num_threads(1)
