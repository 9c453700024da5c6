"""Detection of poisoned training samples: CUBE (Cui et al., 2022), as the RGA paper applies it."""
