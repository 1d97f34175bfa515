"""What Aurora's early-close rule costs and catches, measured on Markdown prose.

Run: ``.venv/bin/python -m bench.early_close_bench [FILES...]`` (default: README.md and, when present,
the shared design and upstream notes, cut into replies at each heading).

Aurora sends no end marker, so a stream that closes cleanly but early looks complete. With
``verify_close = "unfinished"`` the backend reads the stored history (one GET) only when a reply
does not end like a finished one. For each verify_close mode this prints the extra requests per
complete reply and the share of cut-short replies that get checked (and so completed), a cut
falling after any word or after any 4-character token (streams cut between tokens).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from core.backends.aurora import looks_finished

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEFAULTS = (ROOT / "README.md", SHARED / "design.md", SHARED / "reference" / "upstreams.md")


def replies_in(paths: list[Path]) -> list[str]:
    """Sections of Markdown files as stand-ins for replies (at least 80 characters each)."""
    found: list[str] = []
    for path in paths:
        if not path.is_file():
            continue
        sections = re.split(r"\n(?=#{1,6} )", path.read_text(encoding="utf-8"))
        found += [s.strip() for s in sections if len(s.strip()) >= 80]
    return found


def cuts(text: str, *, by: str) -> list[str]:
    """Every prefix of ``text`` a stream could stop at: after a word, or after a 4-char token."""
    if by == "word":
        return [text[: m.end()] for m in re.finditer(r"\S+", text)][:-1]
    return [text[:i] for i in range(4, len(text), 4)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args()
    replies = replies_in(args.files or list(DEFAULTS))
    if not replies:
        raise SystemExit("no text to measure")
    checked_whole = sum(not looks_finished(r) for r in replies) / len(replies)
    print(f"{len(replies)} replies, {sum(map(len, replies))} characters")
    print(
        "| verify_close | extra GETs per complete reply | cut-short replies caught (word) | (token) |"
    )
    print("|---|---|---|---|")
    caught = {}
    for by in ("word", "token"):
        prefixes = [p for r in replies for p in cuts(r, by=by)]
        caught[by] = sum(not looks_finished(p) for p in prefixes) / len(prefixes)
    print("| always | 1.00 | 100.0% | 100.0% |")
    print(
        f"| unfinished | {checked_whole:.2f} | {caught['word'] * 100:.1f}% "
        f"| {caught['token'] * 100:.1f}% |"
    )
    print("| off | 0.00 | 0.0% | 0.0% |")
    print("A caught reply is completed when the server stored it (one GET, only then).")


if __name__ == "__main__":
    main()
