"""Fitting a Markdown report into one GitHub comment."""

from __future__ import annotations

from collections.abc import Sequence

COMMENT_LIMIT = 65_536
RESERVED = 1_024  # the sticky-comment marker and the truncation note


def fit_sections(sections: Sequence[Sequence[str]], limit: int, full_version: str) -> str:
    """Join sections of lines in order; those that do not fit are left out, last first, with a note
    saying where the full version is."""
    text = ""
    for index, section in enumerate(sections):
        block = "\n".join(section) + "\n" if section else ""
        if len(text) + len(block) > limit:
            note = (f"\n_… {len(sections) - index} section(s) left out to stay under GitHub's comment size limit; "
                    f"{full_version}._\n")
            room = limit - len(note)
            return (text if len(text) <= room else text[:room]) + note
        text += block
    return text
