"""Find and read the documents of a folder: Markdown, plain text, HTML and PDF, with the date
each one carries (front matter, file name, first line or PDF metadata) when it has one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from mlxstudio.core.errors import UserError

SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf")
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})[-_.](\d{2})[-_.](\d{2})(?!\d)")
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_FRONT_DATE = re.compile(r"^(?:date|created|created_at)\s*:\s*[\"']?([^\"'\n]+)", re.M | re.I)


@dataclass(frozen=True)
class Document:
    source: str  # path relative to the folder, as records name it
    text: str
    date: str | None  # YYYY-MM-DD


def find_documents(folder: Path) -> list[Path]:
    """Every readable document under the folder, in a stable order; hidden files left out."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder; choose the folder that holds your notes")
    found = [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and p.suffix.lower() in SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    if not found:
        kinds = ", ".join(SUFFIXES)
        raise UserError(f"{folder}: no documents ({kinds}) in it or its subfolders")
    return found


def read_document(path: Path, folder: Path) -> Document:
    """The document's text and date; UserError when it cannot be read (the caller counts it)."""
    suffix = path.suffix.lower()
    date = None
    if suffix == ".pdf":
        text, date = _read_pdf(path)
    else:
        try:
            raw = path.read_text(encoding="utf-8", errors="replace")
        except OSError as err:
            raise UserError(f"{path}: cannot be read ({err.strerror})") from None
        if suffix in (".html", ".htm"):
            text, date = _HtmlText.extract(raw)
        else:
            text, date = _front_matter(raw)
    date = date or _date_in(path.stem) or _date_in(text[:200].split("\n", 1)[0])
    return Document(path.relative_to(folder).as_posix(), text.strip(), date)


def _date_in(text: str) -> str | None:
    m = _ISO_DATE.search(text or "")
    if not m:
        return None
    year, month, day = (int(g) for g in m.groups())
    if not (1900 <= year <= 2200 and 1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{year:04d}-{month:02d}-{day:02d}"


def _front_matter(raw: str) -> tuple[str, str | None]:
    m = _FRONT_MATTER.match(raw)
    if not m:
        return raw, None
    found = _FRONT_DATE.search(m.group(1))
    return raw[m.end() :], _date_in(found.group(1)) if found else None


def _read_pdf(path: Path) -> tuple[str, str | None]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        text = "\n\n".join(page.extract_text() or "" for page in reader.pages)
        created = reader.metadata.creation_date if reader.metadata else None
    except (PdfReadError, OSError, ValueError, KeyError) as err:
        raise UserError(f"{path}: not a readable PDF ({err})") from None
    return text, created.strftime("%Y-%m-%d") if created else None


class _HtmlText(HTMLParser):
    """Visible text of a page (the standard library's parser is enough for saved notes)."""

    _SKIP = frozenset({"script", "style", "head", "nav", "noscript", "template"})
    _BLOCK = frozenset({"p", "div", "br", "li", "h1", "h2", "h3", "h4", "tr", "section"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.date: str | None = None

    @classmethod
    def extract(cls, raw: str) -> tuple[str, str | None]:
        parser = cls()
        parser.feed(raw)
        parser.close()
        text = re.sub(r"[ \t]+", " ", "".join(parser.parts))
        return re.sub(r"\n\s*\n+", "\n\n", text), parser.date

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "meta" and not self.date:
            name = (values.get("name") or values.get("property") or "").lower()
            if "date" in name or name.endswith("published_time"):
                self.date = _date_in(values.get("content") or "")
        elif tag == "time" and not self.date:
            self.date = _date_in(values.get("datetime") or "")
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)
