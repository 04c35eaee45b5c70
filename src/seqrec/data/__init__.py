"""Logs in, sequences out: loaders, the shop world, cleaning, id mapping, splits."""
