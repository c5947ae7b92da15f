"""The export papers as print-ready pages (A4), and the page that refuses a final print."""

from __future__ import annotations

import html

from api.papers.model import Doc, Papers
from api.papers.render import MAX_MARK_RANGES, Table, View, amount

_CSS = """
body{font:10.5pt/1.35 system-ui,sans-serif;margin:2rem;color:#111}
h1{font-size:16pt;margin:0 0 .5rem}h2{font-size:12pt;margin:1.2rem 0 .4rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:0 0 1rem}
dt{font-weight:600}dd{margin:0;white-space:pre-line}
table{border-collapse:collapse;width:100%;font-size:9.5pt}
th,td{border:1px solid #999;padding:2px 6px;text-align:left;vertical-align:top;
white-space:pre-line}
td.R,th.R{text-align:right;font-variant-numeric:tabular-nums}
thead{display:table-header-group}tr{break-inside:avoid}
.draft{border:3px solid #b00;color:#b00;padding:.5rem 1rem;margin:0 0 1rem}
.draft h2{margin:0 0 .3rem;color:#b00}
.missing{color:#b00;font-weight:600}
.sources{font-size:9pt}.sign{margin-top:3rem;border-top:1px solid #333;width:22rem}
button{font-size:12pt;padding:.4rem 1rem;margin-bottom:1rem}
@page{size:A4;margin:14mm}
@media print{button{display:none}body{margin:0}}
"""


def _e(text: str) -> str:
    return html.escape(text)


def _cell(text: str, missing_word: str) -> str:
    # A missing figure is marked so it is seen at a glance on a draft.
    escaped = _e(text)
    if missing_word in text:
        return f'<span class="missing">{escaped}</span>'
    return escaped


def _rows(table: Table, rows: list[list[str]], miss: str, tr: str, tag: str) -> str:
    """Table rows, each cell a ``tag`` aligned as its column (a missing figure marked)."""
    return "\n".join(
        tr
        + "".join(
            f'<{tag} class="{a}">{_cell(c, miss)}</{tag}>'
            for c, a in zip(row, table.aligns, strict=True)
        )
        + "</tr>"
        for row in rows
    )


def _table(v: View, table: Table, table_id: str) -> str:
    miss = v.t["missing"]
    heads = "".join(
        f'<th class="{a}">{_e(h)}</th>' for h, a in zip(table.heads, table.aligns, strict=True)
    )
    body = _rows(table, table.rows, miss, "<tr>", "td")
    totals = _rows(table, table.totals, miss, '<tr class="total">', "th")
    return (
        f'<table id="{table_id}"><thead><tr>{heads}</tr></thead>'
        f"<tbody>\n{body}\n{totals}\n</tbody></table>"
    )


def _page(v: View, body: str) -> str:
    t = v.t
    draft = ""
    if not v.final:
        items = "".join(f"<li>{_e(m)}</li>" for m in v.missing_lines())
        draft = (
            f'<div class="draft" id="draft"><h2>{_e(t["draft"])}</h2>'
            f"<p>{_e(t['draft_note'])}</p><ul>{items}</ul></div>"
        )
    facts = "".join(
        f"<dt>{_e(label)}</dt><dd>{_cell(value, t['missing'])}</dd>" for label, value in v.facts()
    )
    sources = "".join(f"<tr><td>{_e(f)}</td><td>{_e(s)}</td></tr>" for f, s in v.sources())
    return f"""<!doctype html>
<html lang="{_e(v.lang)}"><head><meta charset="utf-8">
<title>{_e(v.title)} {_e(v.p.container_no_formatted)}</title>
<style>{_CSS}</style></head><body data-final="{str(v.final).lower()}">
<button onclick="window.print()">{_e(t["print"])}</button>
{draft}
<h1>{_e(v.title)}{"" if v.final else " - " + _e(t["draft"])}</h1>
<dl>{facts}</dl>
{body}
<h2>{_e(t["sources"])}</h2>
<table class="sources" id="sources"><thead><tr><th>{_e(t["figures"])}</th>
<th>{_e(t["source"])}</th></tr></thead><tbody>{sources}</tbody></table>
<div class="sign">{_e(t["sign"])}</div>
</body></html>
"""


def invoice(papers: Papers, lang: str, timezone: str) -> str:
    """The commercial invoice: a line per SKU, the total in the shipment's currency."""
    v = View(papers, Doc.INVOICE, lang, timezone)
    body = _table(v, v.invoice_table(), "goods") + _fob_block(v)
    return _page(v, body)


def _fob_block(v: View) -> str:
    p, t = v.p, v.t
    if p.freight is None and p.insurance is None:
        return ""
    rows = [(t["freight"], p.freight), (t["insurance"], p.insurance), (t["fob"], p.total_fob)]
    cells = "".join(
        f'<tr><th>{_e(label)} {_e(p.shipment.currency)}</th><td class="R">{amount(value)}</td></tr>'
        for label, value in rows
        if value is not None
    )
    return f'<table id="fob" style="width:auto;margin-top:.6rem"><tbody>{cells}</tbody></table>'


def packing_list(papers: Papers, lang: str, timezone: str) -> str:
    """The packing list: marks, packages, net, gross and volume per SKU; the drums as annex."""
    v = View(papers, Doc.PACKING_LIST, lang, timezone)
    body = (
        _table(v, v.packing_table(), "goods")
        + f"<h2>{_e(v.t['annex'])}</h2>"
        + _table(v, v.annex_table(), "annex")
    )
    return _page(v, body)


def form_e(papers: Papers, lang: str, timezone: str) -> str:
    """The Form E data sheet: boxes 5 to 10 per item, to fill the e-SKA application from."""
    v = View(papers, Doc.FORM_E, lang, timezone)
    t = v.t
    table = Table(
        [
            f"5 {t['item']}",
            f"6 {t['marks']}",
            f"7 {t['packages_desc']}",
            f"7 {t['hs6']}",
            f"8 {t['origin']}",
            f"9 {t['gross_or_qty']}",
            f"10 {t['invoices']}",
        ],
        ["R", "L", "L", "L", "L", "R", "L"],
        [5, 24, 20, 10, 10, 18, 13],
        v.form_e_rows(),
        [],
    )
    note = f"<p>{_e(t['marks_note'].format(n=MAX_MARK_RANGES))}</p>"
    return _page(v, _table(v, table, "goods") + note)


def refusal(papers: Papers, doc: Doc, lang: str, timezone: str, draft_url: str) -> str:
    """The page answered instead of a final document: what is missing, and a draft's link."""
    v = View(papers, doc, lang, timezone)
    t = v.t
    items = "".join(f"<li>{_e(m)}</li>" for m in v.missing_lines())
    return f"""<!doctype html>
<html lang="{_e(lang)}"><head><meta charset="utf-8">
<title>{_e(t["refused"])}: {_e(v.title)} {_e(papers.container_no_formatted)}</title>
<style>{_CSS}</style></head><body data-final="false">
<div class="draft" id="refused"><h2>{_e(t["refused"])}: {_e(v.title)}
{_e(papers.container_no_formatted)}</h2>
<p>{_e(t["refused_note"])}</p><ul>{items}</ul>
<p><a id="draft-link" href="{_e(draft_url)}">{_e(t["draft_link"])}</a></p></div>
</body></html>
"""
