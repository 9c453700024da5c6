"""TBAR's analyses (issue 12): weight disentanglement, forget-set variants, and the plots of each."""
