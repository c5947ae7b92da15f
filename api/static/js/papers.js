/* The export papers on a sealed container (supervisors): whether each document is final and
 * what it still needs, the links to print it, and the shipment record's form.
 */
import { ask, call, toast } from "./actions.js";
import { el } from "./format.js";
import { API, canSupervise, state, t } from "./state.js";

// Each document and its formats, as the API names them (/containers/{no}/papers/{doc}.{ext}).
const DOCS = [
  ["invoice", ["html", "pdf"]],
  ["packing-list", ["html", "pdf", "csv"]],
  ["peb", ["csv", "json"]],
  ["form-e", ["html", "csv"]],
];
const SHOWN_FOR = ["sealed", "shipped"];
const INCOTERMS = ["", "FOB", "FCA", "FAS", "CFR", "CPT", "CIF", "CIP", "EXW", "DAP", "DPU", "DDP"];

// container -> {status, version, body}: GET /containers/{no}/papers, fetched when the card
// shows the papers and again after the shipment record changes.
const known = new Map();

export function renderPapers(card, c) {
  const box = card.querySelector(".papers");
  const show = canSupervise() && SHOWN_FOR.includes(c.status);
  box.hidden = !show;
  if (!show) return;
  const have = known.get(c.container_no);
  if (!have || have.status !== c.status) {
    known.set(c.container_no, { status: c.status, version: (have ? have.version : 0) + 1, body: null });
    loadPapers(c);
  }
  draw(box, c);
}

async function loadPapers(c) {
  const entry = known.get(c.container_no);
  const version = entry.version;
  let body = null;
  try {
    body = await call("GET", `/containers/${encodeURIComponent(c.container_no)}/papers`);
  } catch (err) {
    body = { error: err.message };
  }
  const now = known.get(c.container_no);
  if (!now || now.version !== version) return; // a newer fetch is on its way
  now.body = body;
  const card = document.querySelector(`[data-container="${CSS.escape(c.container_no)}"]`);
  if (card) draw(card.querySelector(".papers"), state.containers.get(c.container_no) || c);
}

function draw(box, c) {
  const entry = known.get(c.container_no) || {};
  const body = entry.body;
  const key = `${c.status}|${state.lang}|${entry.version}|${body ? "1" : "0"}`;
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  const q = `lang=${state.lang}&access_token=${encodeURIComponent(state.token)}`;
  const rows = [];
  const missing = new Map(); // where -> words: each missing thing once, for all documents
  for (const [doc, exts] of DOCS) {
    const ready = body && body.documents ? body.documents[doc] : null;
    const final = ready && ready.final;
    const links = exts.map((ext) => el("a", {
      class: `doc doc-${doc}-${ext}`,
      href: `${API}/containers/${c.container_no}/papers/${doc}.${ext}?${q}${final ? "" : "&draft=true"}`,
      target: "_blank",
      rel: "noopener",
      text: final ? ext.toUpperCase() : `${ext.toUpperCase()} (${t("papersDraft")})`,
    }));
    if (ready) for (const m of ready.missing) missing.set(m.where, state.lang === "id" ? m.id : m.en);
    const word = !ready ? t("papersLoading") : final ? t("papersFinal") : `${t("papersNotFinal")} (${ready.missing.length})`;
    rows.push(el("div", { class: `doc-row doc-${doc}`, "data-final": String(Boolean(final)) },
      el("span", { class: "doc-name", text: t(`paper-${doc}`) }),
      el("span", { class: `doc-state ${final ? "ok" : "bad"}`, text: word }),
      el("span", { class: "doc-links" }, ...links)));
  }
  if (missing.size) {
    rows.push(el("p", { class: "missing-title", text: t("papersMissing") }),
      el("ul", { class: "missing" }, ...[...missing.values()].map((text) => el("li", { text }))));
  }
  if (body && body.error) rows.push(el("p", { class: "error", text: body.error }));
  const parts = [el("h4", { text: t("papersTitle") }), ...rows];
  if (c.status === "shipped") {
    parts.push(el("p", { class: "frozen", text: t("shipmentFrozen") }));
  } else {
    const b = el("button", { type: "button", class: "act-shipment", text: t("shipmentAction"),
      "aria-label": `${t("shipmentAction")} ${c.container_no_formatted}` });
    b.addEventListener("click", () => askShipment(state.containers.get(c.container_no) || c));
    parts.push(b);
  }
  box.replaceChildren(...parts);
}

function party(values, prefix) {
  return {
    name: values[`${prefix}_name`],
    address: values[`${prefix}_address`],
    country: values[`${prefix}_country`].toUpperCase(),
  };
}

async function askShipment(c) {
  let s;
  try {
    s = await call("GET", `/containers/${encodeURIComponent(c.container_no)}/shipment`);
  } catch (err) {
    toast(err.message, true);
    return;
  }
  const text = (name, label, value, maxlength = 100) => ({ name, label: t(label), value: value || "", maxlength });
  const date = (name, label, value) => ({ name, label: t(label), value: value || "", type: "date" });
  ask({
    title: `${t("shipmentTitle")}: ${c.container_no_formatted}`,
    text: t("shipmentText"),
    fields: [
      text("buyer_name", "buyerName", s.buyer.name, 120),
      text("buyer_address", "buyerAddress", s.buyer.address, 400),
      text("buyer_country", "buyerCountry", s.buyer.country, 2),
      text("consignee_name", "consigneeName", s.consignee && s.consignee.name, 120),
      text("consignee_address", "consigneeAddress", s.consignee && s.consignee.address, 400),
      text("consignee_country", "consigneeCountry", s.consignee && s.consignee.country, 2),
      text("notify_name", "notifyName", s.notify_party && s.notify_party.name, 120),
      text("notify_address", "notifyAddress", s.notify_party && s.notify_party.address, 400),
      text("notify_country", "notifyCountry", s.notify_party && s.notify_party.country, 2),
      text("port_of_loading", "portOfLoading", s.port_of_loading),
      text("port_of_discharge", "portOfDischarge", s.port_of_discharge),
      text("vessel", "vessel", s.vessel, 80),
      text("voyage", "voyage", s.voyage, 40),
      date("departure_date", "departureDate", s.departure_date),
      text("bl_no", "blNo", s.bl_no, 40),
      { name: "incoterm", label: t("incoterm"), value: s.incoterm || "", options: INCOTERMS.map((i) => [i, i || "—"]) },
      text("currency", "currency", s.currency, 3),
      text("freight", "freight", s.freight, 20),
      text("insurance", "insurance", s.insurance, 20),
      text("invoice_no", "invoiceNo", s.invoice_no, 40),
      date("invoice_date", "invoiceDate", s.invoice_date),
    ],
    ok: t("shipmentOk"),
    run: async (v) => {
      const body = {
        buyer: party(v, "buyer"),
        // Left empty: the buyer is the consignee, and the consignee is notified.
        consignee: v.consignee_name ? party(v, "consignee") : null,
        notify_party: v.notify_name ? party(v, "notify") : null,
        port_of_loading: v.port_of_loading,
        port_of_discharge: v.port_of_discharge,
        vessel: v.vessel,
        voyage: v.voyage,
        departure_date: v.departure_date || null,
        bl_no: v.bl_no,
        incoterm: v.incoterm,
        currency: v.currency.toUpperCase(),
        freight: v.freight || null,
        insurance: v.insurance || null,
        invoice_no: v.invoice_no,
        invoice_date: v.invoice_date || null,
      };
      await call("PUT", `/containers/${encodeURIComponent(c.container_no)}/shipment`, body);
      toast(`${t("shipmentSaved")}: ${c.container_no_formatted}`);
      const entry = known.get(c.container_no);
      known.set(c.container_no, { status: c.status, version: (entry ? entry.version : 0) + 1, body: null });
      const card = document.querySelector(`[data-container="${CSS.escape(c.container_no)}"]`);
      if (card) draw(card.querySelector(".papers"), c);
      loadPapers(c);
    },
  });
}
