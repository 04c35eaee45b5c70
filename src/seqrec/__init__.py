"""seqrec: sequential recommendation from Markov chains to transformers, under one API."""

__version__ = "0.1.0"
