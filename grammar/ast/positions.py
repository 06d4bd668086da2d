"""Where a node starts in the script it was parsed from: ksqlDB prefixes messages about a node
with it (`Line: 2, Col: 13: `).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Position:
    """1-based line and column of a node's first token in the script it was parsed from."""
    line: int
    column: int

    def prefix(self) -> str:
        """ksqlDB's location prefix of a message about this node: `Line: 2, Col: 13: `."""
        return f"Line: {self.line}, Col: {self.column}: "


def position_field():
    """The `pos` of a node: where it starts in the source, set by the parser, None for nodes the
    planner makes. Not part of a node's identity (equal expressions at two places are equal)."""
    return field(default=None, compare=False, repr=False, kw_only=True)


def location_prefix(node) -> str:
    """The `Line: l, Col: c: ` prefix for a message about `node`, or '' when it has no position."""
    pos = getattr(node, "pos", None)
    return pos.prefix() if pos is not None else ""
