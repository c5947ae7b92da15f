"""A container's packing list, from the scans stored in InfluxDB: JSON, CSV, printable HTML."""

from __future__ import annotations

import html
import io
from collections import defaultdict
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from api import csvsafe
from api.papers.model import packaging_kg
from api.queries import drums_in_container
from api.schemas import PackingLine, PackingListOut, PackingSkuTotal
from gudang.barcodes import ContainerNo
from gudang.influx import AsyncInfluxReader
from gudang.settings import Settings
from gudang.wire import ContainerStateV1

# The HS code of a drum whose SKU is not (or no longer) in the catalogue: musical drums.
DEFAULT_HS_CODE = "9206.00"

# Weights are printed to the gram, as the scales give them.
WEIGHT_DECIMALS = 3


async def build(
    container: ContainerStateV1, influx: AsyncInfluxReader, settings: Settings
) -> PackingListOut:
    """The packing list of a container as stored now."""
    drums = await drums_in_container(influx, settings.site.name, container.container_no)
    skus = settings.floor.skus
    lines: list[PackingLine] = []
    per_sku: dict[str, list[float]] = defaultdict(list)
    for i, d in enumerate(drums, start=1):
        spec = skus.get(d.sku)
        lines.append(
            PackingLine(
                no=i,
                drum=d.drum,
                sku=d.sku,
                description=spec.name if spec else d.sku,
                hs_code=spec.hs_code if spec else DEFAULT_HS_CODE,
                weight_kg=round(d.weight_kg, WEIGHT_DECIMALS),
                loaded_at=d.loaded_at,
                station=d.station,
            )
        )
        per_sku[d.sku].append(d.weight_kg)
    by_sku = [
        PackingSkuTotal(
            sku=sku,
            description=skus[sku].name if sku in skus else sku,
            hs_code=skus[sku].hs_code if sku in skus else DEFAULT_HS_CODE,
            drums=len(weights),
            net_weight_kg=round(sum(weights), WEIGHT_DECIMALS),
        )
        for sku, weights in sorted(per_sku.items())
    ]
    net = round(sum(d.weight_kg for d in drums), WEIGHT_DECIMALS)
    # The same gross as the export papers': each SKU's packaging (api/papers/model.py).
    default = settings.api.packaging_kg_per_drum
    packaging = sum(len(w) * packaging_kg(skus.get(sku), default) for sku, w in per_sku.items())
    gross = round(net + packaging, WEIGHT_DECIMALS)
    return PackingListOut(
        container_no=container.container_no,
        container_no_formatted=ContainerNo.parse(container.container_no).formatted,
        container_type=container.container_type,
        status=container.status,
        seal_no=container.seal_no,
        site=settings.site.name,
        generated_at=datetime.now(UTC),
        drums=len(lines),
        net_weight_kg=net,
        gross_weight_kg=gross,
        hs_codes=sorted({t.hs_code for t in by_sku}),
        by_sku=by_sku,
        lines=lines,
    )


def kg(value: float) -> str:
    """A weight as printed: to the gram."""
    return f"{value:.{WEIGHT_DECIMALS}f}"


def to_csv(pl: PackingListOut) -> str:
    """CSV: a header block, one row per drum, then totals (spreadsheets open it as is)."""
    buf = io.StringIO()
    # Labels and catalogue texts are anyone's input: no cell may run as a formula.
    w = csvsafe.writer(buf)
    w.writerow(["container_no", pl.container_no_formatted])
    w.writerow(["container_type", pl.container_type])
    w.writerow(["seal_no", pl.seal_no or ""])
    w.writerow(["hs_codes", " ".join(pl.hs_codes)])
    w.writerow([])
    w.writerow(["no", "drum", "sku", "description", "hs_code", "weight_kg", "loaded_at_utc"])
    for ln in pl.lines:
        w.writerow(
            [
                ln.no,
                ln.drum,
                ln.sku,
                ln.description,
                ln.hs_code,
                kg(ln.weight_kg),
                ln.loaded_at.isoformat(),
            ]
        )
    w.writerow([])
    for t in pl.by_sku:
        w.writerow(["total_sku", t.sku, t.description, t.hs_code, t.drums, kg(t.net_weight_kg)])
    w.writerow(["total_drums", pl.drums])
    w.writerow(["total_net_kg", kg(pl.net_weight_kg)])
    w.writerow(["total_gross_kg", kg(pl.gross_weight_kg)])
    return buf.getvalue()


WORDS = {
    "en": {
        "title": "Packing list",
        "container": "Container",
        "type": "Type",
        "seal": "Seal",
        "status": "Status",
        "site": "Site",
        "printed": "Generated",
        "drum": "Drum label",
        "sku": "SKU",
        "desc": "Description",
        "hs": "HS code",
        "weight": "Net weight (kg)",
        "loaded": "Loaded",
        "totals": "Totals",
        "drums": "Drums",
        "net": "Net weight",
        "gross": "Gross weight",
        "none": "not sealed",
        "print": "Print",
        "sign": "Checked by (name, signature, date)",
    },
    "id": {
        "title": "Daftar kemasan (packing list)",
        "container": "Kontainer",
        "type": "Tipe",
        "seal": "Segel",
        "status": "Status",
        "site": "Gudang",
        "printed": "Dibuat",
        "drum": "Label drum",
        "sku": "SKU",
        "desc": "Uraian",
        "hs": "Kode HS",
        "weight": "Berat bersih (kg)",
        "loaded": "Dimuat",
        "totals": "Jumlah",
        "drums": "Drum",
        "net": "Berat bersih",
        "gross": "Berat kotor",
        "none": "belum disegel",
        "print": "Cetak",
        "sign": "Diperiksa oleh (nama, tanda tangan, tanggal)",
    },
}

_PRINT_CSS = """
body{font:11pt/1.35 system-ui,sans-serif;margin:2rem;color:#111}
h1{font-size:16pt;margin:0 0 .5rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:0 0 1rem}
dt{font-weight:600}dd{margin:0}
table{border-collapse:collapse;width:100%;font-size:9.5pt}
th,td{border:1px solid #999;padding:2px 6px;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
thead{display:table-header-group}tr{break-inside:avoid}
.totals{margin-top:1rem;width:auto}.sign{margin-top:3rem;border-top:1px solid #333;width:22rem}
button{font-size:12pt;padding:.4rem 1rem;margin-bottom:1rem}
@page{size:A4;margin:14mm}
@media print{button{display:none}body{margin:0}}
"""


def to_html(pl: PackingListOut, timezone: str, lang: str = "en") -> str:
    """A print-ready page (A4, table header repeated on every page)."""
    t = WORDS.get(lang, WORDS["en"])
    tz = ZoneInfo(timezone)
    e = html.escape

    def when(at: datetime) -> str:
        return at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")

    rows = "\n".join(
        f"<tr><td class=n>{ln.no}</td><td>{e(ln.drum)}</td><td>{e(ln.sku)}</td>"
        f"<td>{e(ln.description)}</td><td>{e(ln.hs_code)}</td>"
        f"<td class=n>{kg(ln.weight_kg)}</td><td>{when(ln.loaded_at)}</td></tr>"
        for ln in pl.lines
    )
    sku_rows = "\n".join(
        f"<tr><td>{e(s.sku)}</td><td>{e(s.description)}</td><td>{e(s.hs_code)}</td>"
        f"<td class=n>{s.drums}</td><td class=n>{kg(s.net_weight_kg)}</td></tr>"
        for s in pl.by_sku
    )
    return f"""<!doctype html>
<html lang="{e(lang)}"><head><meta charset="utf-8">
<title>{t["title"]} {e(pl.container_no_formatted)}</title>
<style>{_PRINT_CSS}</style></head><body>
<button onclick="window.print()">{t["print"]}</button>
<h1>{t["title"]}</h1>
<dl>
<dt>{t["container"]}</dt><dd id="container-no">{e(pl.container_no_formatted)}</dd>
<dt>{t["type"]}</dt><dd>{e(pl.container_type)}</dd>
<dt>{t["seal"]}</dt><dd id="seal-no">{e(pl.seal_no) if pl.seal_no else t["none"]}</dd>
<dt>{t["status"]}</dt><dd>{e(pl.status.value)}</dd>
<dt>{t["site"]}</dt><dd>{e(pl.site)}</dd>
<dt>{t["hs"]}</dt><dd>{e(", ".join(pl.hs_codes))}</dd>
<dt>{t["printed"]}</dt><dd>{when(pl.generated_at)}</dd>
</dl>
<table><thead><tr><th class=n>#</th><th>{t["drum"]}</th><th>{t["sku"]}</th><th>{t["desc"]}</th>
<th>{t["hs"]}</th><th class=n>{t["weight"]}</th><th>{t["loaded"]}</th></tr></thead>
<tbody>
{rows}
</tbody></table>
<table class="totals"><thead><tr><th>{t["sku"]}</th><th>{t["desc"]}</th><th>{t["hs"]}</th>
<th class=n>{t["drums"]}</th><th class=n>{t["net"]} (kg)</th></tr></thead><tbody>
{sku_rows}
<tr><th colspan=3>{t["totals"]}</th><th class=n id="total-drums">{pl.drums}</th>
<th class=n id="total-net">{kg(pl.net_weight_kg)}</th></tr>
<tr><th colspan=4>{t["gross"]} (kg)</th>
<th class=n id="total-gross">{kg(pl.gross_weight_kg)}</th></tr>
</tbody></table>
<div class="sign">{t["sign"]}</div>
</body></html>
"""
