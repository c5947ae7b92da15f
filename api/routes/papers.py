"""A container's export papers: the shipment record, and the documents from the scans.

The documents are built from the drums stored in InfluxDB, the catalogue and the exporter
(settings) and the shipment record (live state): ``api/papers``. A document that still
needs something answers 409 naming it, unless a draft is asked for (``draft=true``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse

from api.auth import Supervisor, SupervisorByQuery
from api.deps import CommandsDep, ContainerNoPath, InfluxDep, Lang, LiveDep, QueryToken, SettingsDep
from api.papers import data, html, pdf
from api.papers.model import Doc, Papers, compose
from api.queries import drums_in_container
from api.schemas import (
    AUTH_ERRORS,
    COMMAND_ERRORS,
    INFLUX_ERRORS,
    INVALID,
    NOT_FOUND,
    ErrorOut,
    PapersOut,
    Responses,
    ShipmentIn,
    ShipmentOut,
)
from api.views import known_container
from gudang.wire import Command, ContainerStateV1, ContainerStatus, ShipmentV1

router = APIRouter(prefix="/containers", tags=["papers"], responses=AUTH_ERRORS)

Draft = Annotated[
    bool, Query(description="print what is known, marked DRAFT, instead of refusing (409)")
]


class Document(StrEnum):
    """The documents and their formats."""

    INVOICE_HTML = "invoice.html"
    INVOICE_PDF = "invoice.pdf"
    PACKING_LIST_HTML = "packing-list.html"
    PACKING_LIST_PDF = "packing-list.pdf"
    PACKING_LIST_CSV = "packing-list.csv"
    PEB_CSV = "peb.csv"
    PEB_JSON = "peb.json"
    FORM_E_HTML = "form-e.html"
    FORM_E_CSV = "form-e.csv"

    @property
    def doc(self) -> Doc:
        """Which of the papers this is."""
        return Doc(self.value.rsplit(".", 1)[0])

    @property
    def ext(self) -> str:
        """The format: html, pdf, csv or json."""
        return self.value.rsplit(".", 1)[1]


NOT_FINAL: Responses = {
    409: {
        "model": ErrorOut,
        "description": "Not final: the detail names what is missing (an HTML page for .html)",
        "content": {"text/html": {"schema": {"type": "string"}}},
    }
}


def _shipment_out(c: ContainerStateV1) -> ShipmentOut:
    s = c.shipment or ShipmentV1()
    return ShipmentOut.model_validate(
        {
            **msgspec.to_builtins(s),
            "container_no": c.container_no,
            "editable": c.status is not ContainerStatus.SHIPPED,
        }
    )


@router.get(
    "/{container_no}/shipment", response_model=ShipmentOut, responses={**NOT_FOUND, **INVALID}
)
async def get_shipment(who: Supervisor, number: ContainerNoPath, live: LiveDep) -> ShipmentOut:
    """The container's shipment record (empty fields: not known yet)."""
    return _shipment_out(known_container(live, number))


@router.put("/{container_no}/shipment", response_model=ShipmentOut, responses=COMMAND_ERRORS)
async def put_shipment(
    who: Supervisor,
    number: ContainerNoPath,
    body: ShipmentIn,
    commands: CommandsDep,
) -> ShipmentOut:
    """Set the container's shipment record, whole; refused (409) once the container shipped."""
    args = {"container_no": number, "shipment": body.model_dump(mode="json")}
    result = await commands.send(Command.CONTAINER_SHIPMENT, args, who)
    try:
        return _shipment_out(msgspec.convert(result, ContainerStateV1))
    except msgspec.ValidationError:
        return _shipment_out(known_container(commands.live, number))


async def _papers(live: LiveDep, influx: InfluxDep, settings: SettingsDep, number: str) -> Papers:
    c = known_container(live, number)
    drums = await drums_in_container(influx, settings.site.name, number)
    return compose(c, drums, settings)


@router.get(
    "/{container_no}/papers",
    response_model=PapersOut,
    responses={**NOT_FOUND, **INFLUX_ERRORS},
)
async def get_papers(
    who: Supervisor,
    number: ContainerNoPath,
    live: LiveDep,
    influx: InfluxDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """The figures every document prints, and what each still needs before it is final."""
    return data.summary(await _papers(live, influx, settings, number))


_MEDIA = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}


def _render(papers: Papers, document: Document, lang: str, timezone: str) -> bytes:
    """The document's bytes (run in a thread: a PDF of 2,600 drums takes a moment)."""
    match document:
        case Document.INVOICE_HTML:
            return html.invoice(papers, lang, timezone).encode()
        case Document.INVOICE_PDF:
            return pdf.invoice(papers, lang, timezone)
        case Document.PACKING_LIST_HTML:
            return html.packing_list(papers, lang, timezone).encode()
        case Document.PACKING_LIST_PDF:
            return pdf.packing_list(papers, lang, timezone)
        case Document.PACKING_LIST_CSV:
            return data.packing_list_csv(papers).encode()
        case Document.PEB_CSV:
            return data.peb_csv(papers).encode()
        case Document.PEB_JSON:
            return msgspec.json.encode(data.peb_json(papers))
        case Document.FORM_E_HTML:
            return html.form_e(papers, lang, timezone).encode()
        case Document.FORM_E_CSV:
            return data.form_e_csv(papers).encode()


@router.get(
    "/{container_no}/papers/{document}",
    response_class=Response,
    responses={
        200: {
            "content": {m: {"schema": {"type": "string"}} for m in _MEDIA.values()},
            "description": "the document (HTML, PDF, CSV or JSON by its name)",
        },
        **NOT_FOUND,
        **NOT_FINAL,
        **INFLUX_ERRORS,
    },
)
async def get_document(
    who: SupervisorByQuery,
    number: ContainerNoPath,
    request: Request,
    live: LiveDep,
    influx: InfluxDep,
    settings: SettingsDep,
    document: Annotated[Document, Path(description="the document and its format")],
    access_token: QueryToken = None,
    lang: Lang = "en",
    draft: Draft = False,
) -> Response:
    """One of the papers; 409 naming what is missing unless ``draft=true``."""
    papers = await _papers(live, influx, settings, number)
    tz = settings.site.timezone
    missing = papers.missing_for(document.doc)
    if missing and not draft:
        if document.ext == "html":
            url = request.url.include_query_params(draft="true")
            page = html.refusal(papers, document.doc, lang, tz, str(url))
            return HTMLResponse(page, status_code=status.HTTP_409_CONFLICT)
        what = "; ".join(m.id if lang == "id" else m.en for m in missing)
        return JSONResponse(
            {
                "detail": f"{document.doc.value} is not final: missing {what}",
                "missing": [{"where": m.where, "en": m.en, "id": m.id} for m in missing],
            },
            status_code=status.HTTP_409_CONFLICT,
        )
    body = await run_in_threadpool(_render, papers, document, lang, tz)
    name = f"{document.doc.value}-{number}{'-draft' if missing else ''}.{document.ext}"
    disposition = "inline" if document.ext in ("html", "pdf") else "attachment"
    return Response(
        body,
        media_type=_MEDIA[document.ext],
        headers={"Content-Disposition": f'{disposition}; filename="{name}"'},
    )
