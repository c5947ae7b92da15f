"""The commercial invoice and the packing list as A4 PDFs (fpdf2, as api/packing_pdf.py)."""

from __future__ import annotations

from fpdf import FPDF
from fpdf.fonts import FontFace

from api.papers.model import Doc, Papers
from api.papers.render import Table, View, amount

FONT = "Helvetica"  # a PDF core font: nothing to embed, Latin-1 text
HEADING_FILL = (228, 235, 240)
DRAFT_RED = (176, 0, 0)
ROW_MM = 5.0  # one annex line: 8 pt text with air
LABEL_MM = 40.0  # the header's label column


def latin1(text: str) -> str:
    """`text` as the core fonts can print it: Latin-1, anything else (rare in names) as '?'."""
    return text.encode("latin-1", "replace").decode("latin-1")


class FooterDoc(FPDF):
    """A4 with `footer_text` (document, container) and page x/y at the foot of every page."""

    footer_text = ""

    def footer(self) -> None:
        """Printed by fpdf2 on each page."""
        self.set_y(-10)
        self.set_font(FONT, size=7)
        self.cell(0, 5, f"{self.footer_text}   {self.page_no()}/{{nb}}", align="R")


def _start(v: View) -> FooterDoc:
    pdf = FooterDoc(orientation="portrait", unit="mm", format="A4")
    draft = "" if v.final else f" - {v.t['draft']}"
    pdf.footer_text = latin1(f"{v.title} {v.p.container_no_formatted}{draft}")
    pdf.set_title(latin1(f"{v.title} {v.p.container_no_formatted}"))
    pdf.set_creator("Gudang")
    pdf.set_auto_page_break(auto=True, margin=14)
    pdf.add_page()
    pdf.set_font(FONT, "B", 15)
    pdf.cell(0, 9, latin1(v.title + draft), new_x="LMARGIN", new_y="NEXT")
    if not v.final:
        pdf.set_text_color(*DRAFT_RED)
        pdf.set_font(FONT, "B", 9)
        pdf.multi_cell(0, 4.5, latin1(v.t["draft_note"]), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, size=8)
        for line in v.missing_lines():
            pdf.multi_cell(0, 4, latin1(f"- {line}"), new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
        pdf.ln(2)
    for label, value in v.facts():
        pdf.set_font(FONT, "B", 9)
        pdf.cell(LABEL_MM, 4.5, latin1(label))
        pdf.set_font(FONT, size=9)
        pdf.multi_cell(0, 4.5, latin1(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    return pdf


def _table(pdf: FooterDoc, table: Table, font_size: float = 8) -> None:
    """A small table (a few lines): fpdf2's table, cells wrapping."""
    aligns = tuple("RIGHT" if a == "R" else "LEFT" for a in table.aligns)
    pdf.set_font(FONT, size=font_size)
    with pdf.table(
        col_widths=tuple(table.widths),
        headings_style=FontFace(emphasis="BOLD", fill_color=HEADING_FILL),
        line_height=4.2,
        text_align=aligns,
    ) as t:
        for row in [table.heads, *table.rows, *table.totals]:
            t.row([latin1(c) for c in row])


def _finish(pdf: FooterDoc, v: View) -> bytes:
    pdf.ln(4)
    pdf.set_font(FONT, "B", 9)
    pdf.cell(0, 5, latin1(v.t["sources"]), new_x="LMARGIN", new_y="NEXT")
    _table(
        pdf,
        Table(
            [v.t["figures"], v.t["source"]],
            ["L", "L"],
            [40, 60],
            [[f, s] for f, s in v.sources()],
            [],
        ),
        font_size=7,
    )
    pdf.ln(16)
    pdf.set_font(FONT, size=9)
    if pdf.will_page_break(10):
        pdf.add_page()
    pdf.cell(90, 5, latin1(v.t["sign"]), border="T")
    return bytes(pdf.output())


def invoice(papers: Papers, lang: str, timezone: str) -> bytes:
    """The commercial invoice as an A4 PDF."""
    v = View(papers, Doc.INVOICE, lang, timezone)
    pdf = _start(v)
    _table(pdf, v.invoice_table())
    p = papers
    rows = [(v.t["freight"], p.freight), (v.t["insurance"], p.insurance), (v.t["fob"], p.total_fob)]
    if p.freight is not None or p.insurance is not None:
        pdf.ln(2)
        pdf.set_font(FONT, size=9)
        for label, value in rows:
            if value is not None:
                pdf.cell(50, 5, latin1(f"{label} {p.shipment.currency}"))
                pdf.cell(30, 5, amount(value), align="R", new_x="LMARGIN", new_y="NEXT")
    return _finish(pdf, v)


def packing_list(papers: Papers, lang: str, timezone: str) -> bytes:
    """The packing list as an A4 PDF: goods per SKU, then the per-drum annex."""
    v = View(papers, Doc.PACKING_LIST, lang, timezone)
    pdf = _start(v)
    _table(pdf, v.packing_table())
    _annex(pdf, v)
    return _finish(pdf, v)


def _annex(pdf: FooterDoc, v: View) -> None:
    # Plain cells: fpdf2's table() lays 2,600 rows out ~8x slower (api/packing_pdf.py).
    table = v.annex_table()
    pdf.ln(4)
    pdf.set_font(FONT, "B", 10)
    pdf.cell(0, 6, latin1(v.t["annex"]), new_x="LMARGIN", new_y="NEXT")
    widths = [pdf.epw * w / sum(table.widths) for w in table.widths]

    def row(cells: list[str], bold: bool = False) -> None:
        pdf.set_font(FONT, "B" if bold else "", 8)
        for w, a, text in zip(widths, table.aligns, cells, strict=True):
            pdf.cell(w, ROW_MM, latin1(text), border=1, align=a, fill=bold)
        pdf.ln(ROW_MM)

    pdf.set_fill_color(*HEADING_FILL)
    row(table.heads, bold=True)
    for cells in table.rows:
        if pdf.will_page_break(ROW_MM):
            pdf.add_page()
            row(table.heads, bold=True)  # every page starts with the column names
        row(cells)
    for cells in table.totals:
        row(cells, bold=True)
