"""`Observation`: one interval's data row as the policy sees it.

The 2024 policies received a pandas Series; building one per interval costs ~20 µs, more
than the whole simulated step. An Observation is a view of column lists at one row
that answers the Series calls those policies used: item and attribute access, `.get`,
`.keys()`, `.index`, `.values`, `.to_dict()`, `.items()`, `in`, `len`, iteration over values.
`RowObservation` answers the same calls from one row's values (what the sandbox agent receives).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np


class Observation:
    __slots__ = ("_columns", "_row")

    def __init__(self, columns: Mapping[str, Sequence[Any]], row: int = 0):
        self._columns = columns
        self._row = row

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Observation:
        return cls({name: (value,) for name, value in values.items()}, 0)

    def __getitem__(self, key: str) -> Any:
        try:
            return self._columns[key][self._row]
        except KeyError:
            if isinstance(key, int) and not isinstance(key, bool):  # positional, as Series[int] once allowed
                return list(self._columns.values())[key][self._row]
            raise KeyError(key) from None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._columns[name][self._row]
        except KeyError:
            raise AttributeError(f"'Observation' has no attribute or column {name!r}") from None

    def get(self, key: str, default: Any = None) -> Any:
        column = self._columns.get(key)
        return default if column is None else column[self._row]

    def keys(self) -> list[str]:
        return list(self._columns)

    @property
    def index(self) -> list[str]:
        return list(self._columns)

    @property
    def values(self) -> np.ndarray:
        return np.array([column[self._row] for column in self._columns.values()], dtype=object)

    def to_dict(self) -> dict[str, Any]:
        return {name: column[self._row] for name, column in self._columns.items()}

    def items(self) -> Iterator[tuple[str, Any]]:
        return ((name, column[self._row]) for name, column in self._columns.items())

    def __contains__(self, key: object) -> bool:
        return key in self._columns

    def __iter__(self) -> Iterator[Any]:
        return (column[self._row] for column in self._columns.values())

    def __len__(self) -> int:
        return len(self._columns)

    def __repr__(self) -> str:
        body = "\n".join(f"{name:<24}{value}" for name, value in self.items())
        return f"{body}\nName: {self._row}, dtype: object"


class RowObservation(Observation):
    """The same answers from one row's own values: `_columns` maps each name to its position in
    `_row`, the list of values (the agent's compact act sends a row as a list). The map is shared
    by every row; the list is each row's own, so a policy that keeps an observation keeps it whole."""

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        try:
            return self._row[self._columns[key]]
        except KeyError:
            if isinstance(key, int) and not isinstance(key, bool):
                return self._row[key]
            raise KeyError(key) from None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._row[self._columns[name]]
        except KeyError:
            raise AttributeError(f"'Observation' has no attribute or column {name!r}") from None

    def get(self, key: str, default: Any = None) -> Any:
        position = self._columns.get(key)
        return default if position is None else self._row[position]

    @property
    def values(self) -> np.ndarray:
        return np.array(self._row, dtype=object)

    def to_dict(self) -> dict[str, Any]:
        return dict(zip(self._columns, self._row, strict=True))

    def items(self) -> Iterator[tuple[str, Any]]:
        return zip(self._columns, self._row, strict=True)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._row)

    def __repr__(self) -> str:
        body = "\n".join(f"{name:<24}{value}" for name, value in self.items())
        return f"{body}\nName: 0, dtype: object"


def row_of(observation: Observation) -> tuple[Mapping[str, Sequence[Any]], int]:
    """The column lists and the row an Observation views (the sandbox host encodes that row)."""
    return observation._columns, observation._row
