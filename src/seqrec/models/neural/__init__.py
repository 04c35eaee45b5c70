"""Neural sequential models: the shared trainer, losses, blocks, one file per network."""
