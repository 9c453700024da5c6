"""Data: dataset sources, the offline stand-in corpora, training-time augmentation, file I/O and pinned downloads."""
