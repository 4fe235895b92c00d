"""Data: datasets, batching with a resumable position, and random splits.

Read ``dataset.py`` (what an example collection is, ``TensorDataset``, ``random_split``), then
``dataloader.py`` (batches, shuffling, ``state_dict`` for resuming mid-epoch). Language-model text
has its own modules here: ``corpus.py`` (where text comes from) and ``windows.py`` (token windows).
"""

from __future__ import annotations

from minillm.data.dataloader import DataLoader, default_collate
from minillm.data.dataset import Dataset, Subset, TensorDataset, random_split

__all__ = ["DataLoader", "Dataset", "Subset", "TensorDataset", "default_collate", "random_split"]
