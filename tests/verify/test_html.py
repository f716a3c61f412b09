"""report.html: well-formed, self-contained (images embedded), tables intact, text escaped."""

from __future__ import annotations

import base64
import re
import shutil
import struct
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from verify.html import markdown_to_html, write_html

ROOT = Path(__file__).resolve().parents[2]
VOID = {"img", "br", "hr", "meta", "link", "input"}


def tiny_png(rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A valid 2x1 PNG written by hand (signature, IHDR, IDAT, IEND)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"\x00" + bytes(rgb) * 2
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class Tree(HTMLParser):
    """Records tags, checks that every non-void tag is closed in order, and collects text and tables."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.tables: list[list[list[str]]] = []  # table -> rows -> cell texts
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def parse(page: str) -> Tree:
    tree = Tree()
    tree.feed(page)
    tree.close()
    assert tree.errors == [] and tree.stack == [], (tree.errors, tree.stack)
    return tree


SPECIAL = """# Report for `a<b>` & co

Plain <script>alert("x")</script> text & "quotes", 5 < 6 > 4, epsilon*r, **bold <i>** and *it* and `x < y && z`.
A [link](results.csv?a=1&b=2), a [bad link](javascript:alert(1)) and an escaped \\*star\\*.

| claim | value \\| pipe | note |
|---|---:|:---:|
| <b>x</b> | 1 & 2 | `<code>` |
| short row |
| too | many | cells | here |

- one *item*
- two

- three, after a blank line

![plot <one>](plot.png)
![missing](nowhere.png)

---

Last line
"""


@pytest.fixture()
def report(tmp_path: Path) -> Path:
    (tmp_path / "plot.png").write_bytes(tiny_png())
    markdown = tmp_path / "report.md"
    markdown.write_text(SPECIAL, encoding="utf-8")
    return markdown


def test_html_is_well_formed_and_escapes_everything(report):
    page = write_html(report).read_text(encoding="utf-8")
    assert report.with_suffix(".html").exists()
    tree = parse(page)
    tags = [t for t, _ in tree.tags]
    assert "script" not in tags and "b" not in tags and "i" not in tags  # markup in the text stays text
    text = "".join(tree.text)
    assert '<script>alert("x")</script>' in text and "5 < 6 > 4" in text and "x < y && z" in text
    assert "epsilon*r" in text and "*star*" in text  # a lone or escaped asterisk is not emphasis
    assert ("strong", {}) in tree.tags and ("em", {}) in tree.tags
    title = page[page.index("<title>") + 7:page.index("</title>")]
    assert title == "Report for a&lt;b&gt; &amp; co"
    links = [a["href"] for t, a in tree.tags if t == "a"]
    assert links == ["results.csv?a=1&b=2"]  # the javascript: link is dropped, its text kept
    assert "a bad link and an escaped" in text
    assert tags.count("hr") == 1 and tags.count("ul") == 1 and tags.count("li") == 3  # blank line: same list


def test_tables_keep_their_shape(report):
    tree = parse(write_html(report).read_text(encoding="utf-8"))
    (table,) = tree.tables
    assert [len(row) for row in table] == [3, 3, 3, 3]  # header, full row, padded short row, cut long row
    assert table[0] == ["claim", "value | pipe", "note"]
    assert table[1] == ["<b>x</b>", "1 & 2", "<code>"]
    assert table[2] == ["short row", "", ""]
    assert table[3] == ["too", "many", "cells"]
    aligned = [a.get("style") for t, a in tree.tags if t in ("th", "td")][:3]
    assert aligned == [None, "text-align: right", "text-align: center"]


def test_images_are_embedded_never_linked(report):
    tree = parse(write_html(report).read_text(encoding="utf-8"))
    images = [a for t, a in tree.tags if t == "img"]
    assert len(images) == 1
    src = images[0]["src"]
    assert src.startswith("data:image/png;base64,")
    assert base64.b64decode(src.split(",", 1)[1]) == tiny_png()
    assert images[0]["alt"] == "plot <one>"
    assert "[image nowhere.png not found: missing]" in "".join(tree.text)


def test_input_cannot_forge_placeholders(tmp_path):
    body = markdown_to_html("a \x000\x00 b `c` and \x00 alone", tmp_path)
    assert "\x00" not in body and "<code>c</code>" in body


def test_committed_default_report_converts_with_every_plot_embedded(tmp_path):
    source = ROOT / "reports" / "default"
    if not (source / "report.md").exists():
        pytest.skip("no committed default report")
    for path in source.iterdir():
        if path.suffix in (".md", ".png"):
            shutil.copy(path, tmp_path / path.name)
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    tree = parse(write_html(tmp_path / "report.md").read_text(encoding="utf-8"))
    images = [a["src"] for t, a in tree.tags if t == "img"]
    assert len(images) == len(re.findall(r"!\[[^\]]*\]\([^)]+\)", markdown)) > 0
    assert all(src.startswith("data:image/png;base64,") for src in images)
    separators = [i for i, line in enumerate(markdown.splitlines()) if re.match(r"^\|(\s*-{3,}\s*\|)+$", line)]
    assert len(tree.tables) == len(separators)
    for table in tree.tables:
        assert len({len(row) for row in table}) == 1  # every row as wide as the header
    text = " ".join("".join(tree.text).split())
    for heading in re.findall(r"^#+ (.*)$", markdown, re.M):
        assert heading.replace("`", "") in text
