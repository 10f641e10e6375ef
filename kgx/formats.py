"""PDF, HTML and DOCX files as `Document`s, each read by a maintained library (`kgx[formats]`).

- PDF with pypdf: the text layer page by page in reading order, words hyphenated at line ends
  joined again, and running headers and footers (a line repeated at the top or bottom of most
  pages, page numbers included) dropped. `Document.page_starts` records where each page begins,
  so facts can cite their page. Scanned, encrypted and corrupt PDFs raise `InputError` naming
  the cause and the fix.
- HTML with trafilatura: the main content without navigation, scripts, styles, cookie banners
  or footers; the title from `<title>`, else the first `<h1>`.
- DOCX with python-docx: paragraphs and headings in order, tables row by row (cells joined
  with " | ").

    doc = read_format_file(Path("report.pdf"))
    doc.page_at(doc.text.index("revenue"))      # → 4
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from kgx.errors import InputError, require
from kgx.models import Document

FORMAT_EXTENSIONS = (".pdf", ".html", ".htm", ".docx")
PAGE_BREAK = "\n\n"
_HYPHENATED = re.compile(r"(\w)-\n(?=[a-z])")
_DIGITS = re.compile(r"\d+")
_MIN_PAGES_FOR_RUNNING_LINES = 3


def read_format_file(path: Path) -> Document:
    """The document in a .pdf, .html/.htm or .docx file."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return read_pdf(path)
    if suffix in (".html", ".htm"):
        return read_html(path)
    if suffix == ".docx":
        return read_docx(path)
    raise InputError(f"not a PDF, HTML or DOCX file: {path.name}")


# -- PDF ---------------------------------------------------------------------------------------


def read_pdf(path: Path) -> Document:
    """A PDF's text layer, page by page; see the module docstring."""
    pages = [_dehyphenate(text) for text in _strip_running_lines(pdf_pages(path))]
    starts, offset = [], 0
    for text in pages:
        starts.append(offset)
        offset += len(text) + len(PAGE_BREAK)
    text = PAGE_BREAK.join(pages)
    return Document(text=text, title=_pdf_title(path), source=str(path), page_starts=tuple(starts))


def pdf_pages(path: Path) -> list[str]:
    """The raw text of each page, or an `InputError` saying why there is none and what to do."""
    pypdf = require("pypdf", "formats")
    try:
        reader = pypdf.PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise InputError("encrypted PDF (it needs a password): decrypt it first, e.g. "
                             "`qpdf --decrypt --password=PASSWORD in.pdf out.pdf`")
        pages = [page.extract_text() or "" for page in reader.pages]
    except InputError:
        raise
    except (pypdf.errors.PdfReadError, pypdf.errors.PdfStreamError, ValueError, KeyError,
            TypeError, AttributeError) as e:
        raise InputError(f"corrupt PDF ({type(e).__name__}: {e}): repair it, e.g. "
                         "`qpdf in.pdf repaired.pdf`, or export it again") from e
    except pypdf.errors.DependencyError as e:
        raise InputError(f"the PDF needs a missing decoder ({e}): "
                         "`pip install 'pypdf[crypto]'`") from e
    if not pages:
        raise InputError("PDF with no pages")
    if not any(text.strip() for text in pages):
        raise InputError(f"no text layer in its {len(pages)} pages (scanned images?): run OCR "
                         "first, e.g. `ocrmypdf in.pdf out.pdf`")
    return [text.replace("\r\n", "\n").replace("\r", "\n") for text in pages]


def _pdf_title(path: Path) -> str:
    pypdf = require("pypdf", "formats")
    try:
        title = (pypdf.PdfReader(path).metadata or {}).get("/Title")
    except (pypdf.errors.PyPdfError, ValueError, KeyError, TypeError):
        title = None
    return str(title).strip() if title and str(title).strip() else path.stem


def _strip_running_lines(pages: list[str]) -> list[str]:
    """Drop the first or last line of a page when most pages start or end with the same line
    (digits ignored, so "Page 3 of 9" and a bare page number count as repeats)."""
    if len(pages) < _MIN_PAGES_FOR_RUNNING_LINES:
        return pages
    lines = [text.strip("\n").split("\n") for text in pages]
    for position in (0, -1):
        shapes = Counter(_shape(page[position]) for page in lines if page and page[position])
        running = {shape for shape, n in shapes.items() if n >= max(3, len(pages) // 2)}
        for page in lines:
            if page and _shape(page[position]) in running:
                page.pop(position)
    return ["\n".join(page) for page in lines]


def _shape(line: str) -> str:
    return _DIGITS.sub("#", " ".join(line.split())).casefold()


def _dehyphenate(text: str) -> str:
    """Join a word split by a hyphen at a line end: "man-\\nagement" → "management"."""
    return _HYPHENATED.sub(r"\1", text)


# -- HTML --------------------------------------------------------------------------------------


def read_html(path: Path) -> Document:
    """The main content of a web page; the title from <title>, else the first <h1>."""
    trafilatura = require("trafilatura", "formats")
    html = path.read_bytes()
    text = trafilatura.extract(html, include_comments=False, include_tables=True,
                               include_links=False, include_images=False, favor_recall=True)
    if not text or not text.strip():
        raise InputError("no main text found in the HTML (only navigation or scripts?): save "
                         "the article itself, or convert it to .txt")
    return Document(text=text, title=_html_title(html) or path.stem, source=str(path))


def _html_title(html: bytes) -> str:
    from lxml import html as lxml_html

    try:
        tree = lxml_html.fromstring(html)
    except (ValueError, TypeError):
        return ""
    for xpath in ("//title", "//h1"):
        for node in tree.xpath(xpath):
            title = " ".join(node.text_content().split())
            if title:
                return title
    return ""


# -- DOCX --------------------------------------------------------------------------------------


def read_docx(path: Path) -> Document:
    """Paragraphs and headings in order, tables row by row."""
    docx = require("docx", "formats")
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    try:
        word = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError) as e:
        raise InputError(f"not a readable .docx file ({e}): save it again from Word or "
                         "LibreOffice as .docx") from e
    blocks: list[str] = []
    for item in word.iter_inner_content():
        if isinstance(item, Table):
            blocks += [" | ".join(cell.text.strip() for cell in _unique_cells(row))
                       for row in item.rows]
        elif item.text.strip():
            blocks.append(item.text.strip())
    text = "\n".join(block for block in blocks if block.strip(" |"))
    if not text.strip():
        raise InputError("empty document (no paragraphs or tables with text)")
    title = (word.core_properties.title or "").strip() or _first_heading(word) or path.stem
    return Document(text=text, title=title, source=str(path))


def _unique_cells(row) -> list:
    """A row's cells, a merged cell once (python-docx repeats it for every grid column)."""
    seen, cells = set(), []
    for cell in row.cells:
        if id(cell._tc) not in seen:
            seen.add(id(cell._tc))
            cells.append(cell)
    return cells


def _first_heading(word) -> str:
    for paragraph in word.paragraphs:
        style = (paragraph.style.name if paragraph.style is not None else "") or ""
        if (style == "Title" or style.startswith("Heading")) and paragraph.text.strip():
            return paragraph.text.strip()
    return ""
