"""``report.html``: the report as one self-contained HTML file, converted from ``report.md``.

The converter handles exactly the Markdown the reports use: ATX headings, paragraphs, bullet and
numbered lists, pipe tables (with alignment), fenced code, horizontal rules, and inline bold,
italic, code, links and images.  Every image is embedded as a base64 data URI, so the file opens
in a browser from anywhere, without a server and without the PNGs beside it.  All text is
HTML-escaped; nothing in the Markdown can inject markup.  No dependency beyond the standard
library: a Markdown package for this small subset would be one more thing to pin.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

#: image types embedded as data URIs; anything else stays a plain link
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".svg": "image/svg+xml", ".webp": "image/webp"}

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.5; color: #1f2328;
       max-width: 72rem; margin: 2rem auto; padding: 0 1.5rem; }
h1, h2, h3 { line-height: 1.25; margin-top: 1.8em; }
h1 { border-bottom: 1px solid #d0d7de; padding-bottom: .3em; }
h2 { border-bottom: 1px solid #eaeef2; padding-bottom: .2em; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 90%;
       background: #f3f4f6; padding: .1em .3em; border-radius: 4px; }
pre { background: #f6f8fa; padding: .8em 1em; overflow-x: auto; border-radius: 6px; }
pre code { background: none; padding: 0; }
table { border-collapse: collapse; margin: 1em 0; display: block; overflow-x: auto; }
th, td { border: 1px solid #d0d7de; padding: .35em .7em; vertical-align: top; }
th { background: #f6f8fa; }
tr:nth-child(even) td { background: #fafbfc; }
img { max-width: 100%; height: auto; }
hr { border: 0; border-top: 1px solid #d0d7de; margin: 2em 0; }
.missing { color: #b42318; }
"""

_PLACEHOLDER = "\x00{}\x00"
_TARGET = r"\(((?:[^()\s]|\([^()\s]*\))+)\)"  # a link or image target, one level of parentheses allowed
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+(.*)$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")


class _Inline:
    """Converts one span of Markdown text; finished HTML pieces wait in ``stash`` behind placeholders
    so that later patterns (emphasis, escaping) never see inside them."""

    def __init__(self, base: Path):
        self.base = base
        self.stash: list[str] = []

    def _keep(self, piece: str) -> str:
        self.stash.append(piece)
        return _PLACEHOLDER.format(len(self.stash) - 1)

    def _image(self, alt: str, src: str) -> str:
        path = self.base / src
        mime = IMAGE_TYPES.get(Path(src).suffix.lower())
        if re.match(r"^[a-z][a-z0-9+.-]*:", src, re.I) or mime is None:
            # a remote or non-image source is never fetched: keep it as a link, so the file stays self-contained
            return self._keep(f'<a href="{html.escape(src)}">{html.escape(alt or src)}</a>')
        if not path.is_file():
            return self._keep(f'<span class="missing">[image {html.escape(src)} not found: {html.escape(alt)}]</span>')
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return self._keep(f'<img src="data:{mime};base64,{data}" alt="{html.escape(alt)}">')

    def _link(self, text: str, href: str) -> str:
        scheme = re.match(r"^([a-z][a-z0-9+.-]*):", href, re.I)
        if scheme and scheme.group(1).lower() not in ("http", "https", "mailto"):
            return text  # no javascript: or data: links; the text stays
        return self._keep(f'<a href="{html.escape(href)}">') + text + self._keep("</a>")

    def convert(self, text: str) -> str:
        text = text.replace("\x00", "\ufffd")  # the placeholder marker cannot come from the input
        text = re.sub(r"\\([\\`*_{}\[\]()#+\-.!|<>~])", lambda m: self._keep(html.escape(m.group(1))), text)
        text = re.sub(r"(`+)(.+?)\1", lambda m: self._keep(f"<code>{html.escape(m.group(2).strip())}</code>"), text)
        text = re.sub(r"!\[([^\]]*)\]" + _TARGET, lambda m: self._image(m.group(1), m.group(2)), text)
        text = re.sub(r"\[([^\]]+)\]" + _TARGET, lambda m: self._link(m.group(1), m.group(2)), text)
        text = html.escape(text, quote=False)
        text = re.sub(r"\*\*(?!\s)(.+?)(?<!\s)\*\*", r"<strong>\1</strong>", text)
        text = re.sub(r"(?<![\w*])\*(?![\s*])(.+?)(?<![\s*])\*(?![\w*])", r"<em>\1</em>", text)
        text = re.sub(r"(?<![\w_])_(?![\s_])(.+?)(?<![\s_])_(?![\w_])", r"<em>\1</em>", text)
        while "\x00" in text:  # stashed pieces may hold placeholders of their own (a link's text)
            text = re.sub(r"\x00(\d+)\x00", lambda m: self.stash[int(m.group(1))], text)
        return text


def _table_cells(row: str) -> list[str]:
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row)]


def _alignments(separator: str) -> list[str | None]:
    aligns = []
    for cell in _table_cells(separator):
        left, right = cell.startswith(":"), cell.endswith(":")
        aligns.append("center" if left and right else "right" if right else "left" if left else None)
    return aligns


def markdown_to_html(markdown: str, base: Path) -> str:
    """The body HTML of ``markdown``; image paths are resolved against the folder ``base``."""
    inline = _Inline(base).convert
    lines = markdown.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if line.lstrip().startswith("```"):
            fence, body = line.lstrip()[:3], []
            i += 1
            while i < len(lines) and not lines[i].lstrip().startswith(fence):
                body.append(lines[i])
                i += 1
            i += 1  # the closing fence (or the end of the document)
            out.append("<pre><code>" + html.escape("\n".join(body), quote=False) + "</code></pre>")
            continue
        heading = _HEADING.match(line)
        if heading:
            level, text = len(heading.group(1)), heading.group(2)
            slug = re.sub(r"[^a-z0-9]+", "-", re.sub(r"[`*]", "", text).lower()).strip("-")
            out.append(f'<h{level} id="{html.escape(slug)}">{inline(text)}</h{level}>')
            i += 1
            continue
        if _RULE.match(line):
            out.append("<hr>")
            i += 1
            continue
        if "|" in line and i + 1 < len(lines) and _TABLE_SEPARATOR.match(lines[i + 1]):
            header, aligns = _table_cells(line), _alignments(lines[i + 1])
            i += 2
            rows = []
            while i < len(lines) and lines[i].strip() and "|" in lines[i]:
                rows.append(_table_cells(lines[i]))
                i += 1
            out.append(_table(header, aligns, rows, inline))
            continue
        if _BULLET.match(line) or _NUMBERED.match(line):
            pattern = _BULLET if _BULLET.match(line) else _NUMBERED
            items: list[str] = []
            while i < len(lines):
                item = pattern.match(lines[i])
                if item:
                    items.append(item.group(1))
                elif lines[i].strip() and items and lines[i].startswith((" ", "\t")):
                    items[-1] += "\n" + lines[i].strip()  # an item's continuation line
                elif not lines[i].strip() and i + 1 < len(lines) and pattern.match(lines[i + 1]):
                    pass  # a blank line between items: still the same list
                else:
                    break
                i += 1
            tag = "ul" if pattern is _BULLET else "ol"
            out.append(f"<{tag}>\n" + "\n".join(f"<li>{inline(item)}</li>" for item in items) + f"\n</{tag}>")
            continue
        paragraph = []
        while (i < len(lines) and lines[i].strip() and not _HEADING.match(lines[i]) and not _RULE.match(lines[i])
               and not _BULLET.match(lines[i]) and not lines[i].lstrip().startswith("```")
               and not ("|" in lines[i] and i + 1 < len(lines) and _TABLE_SEPARATOR.match(lines[i + 1]))):
            paragraph.append(lines[i].strip())
            i += 1
        out.append(f"<p>{inline(chr(10).join(paragraph))}</p>")
    return "\n".join(out)


def _table(header: list[str], aligns: list[str | None], rows: list[list[str]], inline) -> str:
    width = len(header)

    def cell(tag: str, text: str, column: int) -> str:
        align = aligns[column] if column < len(aligns) else None
        style = f' style="text-align: {align}"' if align else ""
        return f"<{tag}{style}>{inline(text)}</{tag}>"

    head = "<tr>" + "".join(cell("th", text, c) for c, text in enumerate(header)) + "</tr>"
    body = []
    for row in rows:
        row = (row + [""] * width)[:width]  # a short row is padded, a long one cut, as Markdown renderers do
        body.append("<tr>" + "".join(cell("td", text, c) for c, text in enumerate(row)) + "</tr>")
    return f"<table>\n<thead>\n{head}\n</thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>"


def render_document(markdown: str, base: Path) -> str:
    """A complete HTML page for ``markdown``; its title is the first heading's text."""
    heading = next((m.group(2) for m in map(_HEADING.match, markdown.splitlines()) if m), "lengthgen report")
    title = html.escape(re.sub(r"[`*]", "", heading), quote=False)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f"{markdown_to_html(markdown, base)}\n</body>\n</html>\n")


def write_html(markdown_path: Path, html_path: Path | None = None) -> Path:
    """Write the HTML version of ``markdown_path`` (default: the same name with ``.html``, beside it)."""
    markdown_path = Path(markdown_path)
    target = Path(html_path) if html_path is not None else markdown_path.with_suffix(".html")
    page = render_document(markdown_path.read_text(encoding="utf-8"), markdown_path.parent)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(page, encoding="utf-8")
    partial.replace(target)  # atomic: a reader never sees half a page
    return target
