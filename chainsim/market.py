"""The market: people who could buy, counted, never simulated one by one."""

from __future__ import annotations


class Market:
    """Everyone who has not become a lead is a number here.

    ``unreached`` people have never been reached; ``put_off`` were turned away for
    good by a detractor's word before they ever walked in.
    """

    __slots__ = ("size", "unreached", "put_off")

    def __init__(self, size: int):
        self.size = size
        self.unreached = size
        self.put_off = 0

    def reach(self, leads: int, put_off: int) -> None:
        """``leads`` people walk in; ``put_off`` are lost to bad word of mouth."""
        if leads + put_off > self.unreached:
            raise ValueError("more people reached than remain in the market")
        self.unreached -= leads + put_off
        self.put_off += put_off
