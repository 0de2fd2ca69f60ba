"""One cell of an exported notebook: Markdown for the student to read, or code to run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cell:
    kind: str  # "markdown" or "code"
    source: str


def markdown(text: str) -> Cell:
    return Cell("markdown", text.strip("\n"))


def code(text: str) -> Cell:
    return Cell("code", text.strip("\n"))
