"""``python -m seqrec``: the ``seqrec`` command, so that ``torchrun ... -m seqrec train ...`` and
``seqrec train --ddp`` (whose workers run ``python -m seqrec train ...``) reach the same CLI."""

from seqrec.cli import main

if __name__ == "__main__":
    main()
