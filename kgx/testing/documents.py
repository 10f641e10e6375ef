"""Real PDF, DOCX and HTML files for tests and benchmarks, written with real writer libraries
(fpdf2, pypdf, python-docx)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

HEADER = "Pioneers of Science - Annual Review"

PIONEER_PAGES = (
    "Ada Lovelace worked with Charles Babbage in London.\nShe wrote notes on the Analytical "
    "En-\ngine in 1843.",
    "Marie Curie discovered polonium in Paris.\nPierre Curie worked with Marie Curie on radio-\n"
    "activity.",
    "Alan Turing studied at Cambridge.\nAlan Turing broke the Enigma code.",
)


def write_pdf(path: Path, pages: Sequence[str] = PIONEER_PAGES, *, title: str = "Pioneers",
              header: str | None = HEADER, footer: bool = True) -> Path:
    """A PDF with a text layer: one page per text, a running header and "Page N of M" footer."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title(title)
    pdf.set_auto_page_break(False)
    for number, text in enumerate(pages, 1):
        pdf.add_page()
        if header:
            pdf.set_font("Helvetica", size=9)
            pdf.cell(0, 8, header)
            pdf.ln(12)
        pdf.set_font("Helvetica", size=12)
        pdf.multi_cell(0, 7, text)
        if footer:
            pdf.set_y(-20)
            pdf.set_font("Helvetica", size=9)
            pdf.cell(0, 8, f"Page {number} of {len(pages)}")
    pdf.output(str(path))
    return path


def write_scanned_pdf(path: Path, pages: int = 2) -> Path:
    """A PDF with drawings but no text layer, as a scanner makes."""
    from fpdf import FPDF

    pdf = FPDF()
    for _ in range(pages):
        pdf.add_page()
        pdf.set_fill_color(40, 40, 40)
        pdf.rect(20, 20, 170, 30, style="F")
        pdf.rect(20, 60, 120, 10, style="F")
    pdf.output(str(path))
    return path


def write_encrypted_pdf(path: Path, password: str = "secret") -> Path:
    """A text PDF encrypted with a user password, by pypdf."""
    from pypdf import PdfReader, PdfWriter

    plain = write_pdf(path.with_name(path.stem + "-plain.pdf"))
    writer = PdfWriter(clone_from=PdfReader(plain))
    writer.encrypt(user_password=password, algorithm="AES-128")
    with path.open("wb") as f:
        writer.write(f)
    plain.unlink()
    return path


def write_docx(path: Path) -> Path:
    """A Word file with a title, headings, paragraphs and a table."""
    import docx

    word = docx.Document()
    word.add_heading("Pioneers of computing", level=0)
    word.add_heading("Early machines", level=1)
    word.add_paragraph("Charles Babbage designed the Analytical Engine in London.")
    table = word.add_table(rows=3, cols=2)
    for row, (person, place) in zip(table.rows, [("Person", "City"), ("Ada Lovelace", "London"),
                                                 ("Alan Turing", "Cambridge")], strict=True):
        row.cells[0].text, row.cells[1].text = person, place
    word.add_heading("Codebreaking", level=1)
    word.add_paragraph("Alan Turing broke the Enigma code at Bletchley Park.")
    word.save(str(path))
    return path


ARTICLE_HTML = """<!doctype html>
<html><head><title>Marie Curie and polonium</title>
<style>body {{ font-family: serif; }} .nav {{ color: red; }}</style>
<script>var tracking = "SCRIPT-TEXT-MUST-NOT-APPEAR";</script></head>
<body>
<nav class="nav"><a href="/">Home</a> | <a href="/about">NAVIGATION-MUST-NOT-APPEAR</a></nav>
<div id="cookie-banner" class="cookie-consent">We use cookies. COOKIE-BANNER-MUST-NOT-APPEAR
 <button>Accept</button></div>
<article>
<h1>{h1}</h1>
<p>Marie Curie discovered polonium in Paris in 1898, together with Pierre Curie. The element
was named after Poland, the country where Marie Curie was born.</p>
<p>Marie Curie later received the Nobel Prize in Chemistry for the discovery of radium and
polonium. She was the first person to win Nobel Prizes in two sciences.</p>
</article>
<footer>Copyright 2026 FOOTER-MUST-NOT-APPEAR</footer>
</body></html>
"""


def write_html(path: Path, *, title: bool = True, h1: str = "The discovery of polonium") -> Path:
    """A web page with navigation, a script, a style, a cookie banner and a footer around an
    article; without `title` it has no <title>, only the <h1>."""
    html = ARTICLE_HTML.format(h1=h1)
    if not title:
        html = html.replace("<title>Marie Curie and polonium</title>", "")
    path.write_text(html, encoding="utf-8")
    return path
