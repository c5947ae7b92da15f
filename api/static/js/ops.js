/* Gudang operations page: corrections, the audit trail, alert history, the SKU catalogue
 * and CSV exports. A native ES module, no build step: the dashboard's token, language, API
 * address and element builder (state.js, format.js); its own words as data (ops-words.json).
 */
import { el } from "./format.js";
import { $, API, callApi, LANG_KEY, onLanguage, TOKEN_KEY } from "./state.js";

const RANK = { worker: 0, supervisor: 1, admin: 2 };
const COMMANDS = [
  "container/open", "container/seal", "container/ship", "container/unload", "container/unseal",
  "container/correct-seal", "container/cancel", "container/shipment", "stock/write-off",
  "stock/move", "stock/qc-dispose", "catalogue/set-sku", "catalogue/retire-sku",
  "station/set-container", "station/set-mode", "alert/ack", "alert/ack-kind",
  "phone-token/issue", "phone-token/revoke",
];

// The words in Indonesian and English are data (ops-words.json), as the dashboard's are.
const WORDS = await (await fetch(new URL("ops-words.json", import.meta.url))).json();

const state = {
  token: localStorage.getItem(TOKEN_KEY) || "",
  lang: localStorage.getItem(LANG_KEY) || "id",
  site: null,
  skus: [],
};
const t = (key) => WORDS[state.lang][key] ?? WORDS.en[key] ?? key;
const allowed = (role) => state.site && RANK[state.site.me.role] >= RANK[role];

function toast(text, bad = false) {
  const n = $("toast");
  n.textContent = text;
  n.classList.toggle("bad", bad);
  n.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { n.hidden = true; }, bad ? 8000 : 4000);
}

// A refusal as the API said it: each invalid field with its message, then the status.
function refusal(code, d) {
  const said = Array.isArray(d) ? d.map((x) => `${(x.loc || []).slice(-1)[0]}: ${x.msg}`).join("; ") : String(d || "");
  return `${said} (${code})`;
}

function call(method, path, body) {
  return callApi(state.token, t("unreachable"), refusal, method, path, body);
}

function when(iso) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(state.lang === "id" ? "id-ID" : "en-GB", {
    dateStyle: "short", timeStyle: "medium", timeZone: state.site.timezone,
  }).format(new Date(iso));
}

// Filters of a form as a query string; datetime-local values are the site's time (the API
// reads a time without a zone as the site's).
function query(form, extra = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (String(v).trim()) q.append(k, String(v).trim());
  for (const [k, v] of Object.entries(extra)) q.append(k, v);
  return q.toString();
}

function translate() {
  document.documentElement.lang = state.lang;
  for (const n of document.querySelectorAll("[data-i18n]")) n.textContent = t(n.dataset.i18n);
  sayFormChanged();
  for (const b of document.querySelectorAll(".lang button")) b.setAttribute("aria-pressed", String(b.dataset.lang === state.lang));
}

// -- tabs -----------------------------------------------------------------------------------
const LOADERS = {};
function currentTab() {
  const m = location.hash.match(/tab=([a-z]+)/);
  const tabs = [...document.querySelectorAll("#tabs [data-tab]")].filter((b) => !b.hidden);
  const wanted = m && tabs.find((b) => b.dataset.tab === m[1]);
  return (wanted || tabs[0]).dataset.tab;
}
function showTab() {
  const tab = currentTab();
  for (const b of document.querySelectorAll("#tabs [data-tab]")) b.setAttribute("aria-selected", String(b.dataset.tab === tab));
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== `tab-${tab}`;
  (LOADERS[tab] || (() => {}))();
}

// -- stock corrections ----------------------------------------------------------------------
// Drawn from GET /stock and from the stream's `stock` events (the same body): only the
// latest is drawn, an answer asked for before the last event is dropped.
let stocksDrawn = 0;
function drawStock(stock) {
  $("stock-rows").replaceChildren(...stock.items
    .filter((i) => i.location_kind !== "container")
    .map((i) => el("tr", { "data-sku": i.sku, "data-location": i.location },
      el("td", { text: i.sku }), el("td", { text: i.location }), el("td", { class: "n", text: String(i.drums) }))));
}
async function loadStock() {
  const n = ++stocksDrawn;
  const stock = await call("GET", "/stock");
  if (n === stocksDrawn) drawStock(stock);
}
function followStock(stock) {
  ++stocksDrawn;
  drawStock(stock);
}
LOADERS.stock = () => loadStock().catch((e) => toast(e.message, true));

function showFieldsFor(form, kind) {
  for (const f of form.querySelectorAll("[data-for]")) f.hidden = f.dataset.for !== kind;
}

async function submitStock(ev) {
  ev.preventDefault();
  const f = ev.target;
  const kind = f.kind.value;
  const body = { drum: f.drum.value.trim() };
  const note = f.note.value.trim();
  if (kind === "write-off") Object.assign(body, { reason: f.reason.value }, note ? { note } : {});
  if (kind === "move") Object.assign(body, { location: f.location.value.trim(), reason: f.move_reason.value.trim() }, note ? { note } : {});
  if (kind === "qc-disposal") Object.assign(body, { action: f.action.value }, note ? { reason: note } : {});
  $("stock-error").textContent = "";
  try {
    const r = await call("POST", `/stock/${kind}`, body);
    $("stock-result").textContent = `${r.drum}: ${r.from_location} → ${r.to_location}`;
    toast(t("done"));
    f.drum.value = "";
    await loadStock();
  } catch (e) {
    $("stock-error").textContent = e.message;
  }
}

// -- container corrections ------------------------------------------------------------------
async function loadContainers() {
  const list = await call("GET", "/containers");
  const choices = list.filter((c) => !["shipped", "cancelled"].includes(c.status));
  const sel = $("cc-no");
  const had = sel.value;
  sel.replaceChildren(...choices.map((c) => el("option", { value: c.container_no, text: `${c.container_no_formatted} · ${c.status}` })));
  if (choices.some((c) => c.container_no === had)) sel.value = had;
}
LOADERS.container = () => loadContainers().catch((e) => toast(e.message, true));

async function submitContainer(ev) {
  ev.preventDefault();
  const f = ev.target;
  const kind = f.kind.value;
  const body = { reason: f.reason.value.trim() };
  if (kind === "correct-seal") body.seal_no = f.seal_no.value.trim();
  $("container-error").textContent = "";
  try {
    const c = await call("POST", `/containers/${f.container_no.value}/${kind}`, body);
    $("container-result").textContent = `${c.container_no_formatted}: ${c.status}${c.seal_no ? ` · ${c.seal_no}` : ""}`;
    toast(t("done"));
    f.reason.value = "";
    await loadContainers();
  } catch (e) {
    $("container-error").textContent = e.message;
  }
}

// -- stocktakes ----------------------------------------------------------------------------
let shownCount = null;
// Asked again by the stream (and by the buttons) while an answer is on its way: only the
// latest is drawn.
let countsAsked = 0;

async function loadCounts() {
  const n = ++countsAsked;
  const stale = () => n !== countsAsked;
  const counts = await call("GET", "/stocktakes");
  if (stale()) return;
  $("st-rows").replaceChildren(...counts.map((c) => {
    const show = el("button", { type: "button", class: "show", text: t("details") });
    // Shown afresh: the counts go on while the page is open.
    show.addEventListener("click", () => { shownCount = c.id; LOADERS.stocktake(); });
    return el("tr", { "data-count": c.id, "data-status": c.status },
      el("td", { text: c.id }), el("td", { text: c.location }), el("td", { class: "status", text: t(c.status) }),
      el("td", { class: "n", text: String(c.expected_at_open) }), el("td", { class: "n found", text: String(c.found) }),
      el("td", {}, show));
  }));
  if (shownCount) await showCount(shownCount, stale);
}
LOADERS.stocktake = () => loadCounts().catch((e) => toast(e.message, true));

async function showCount(id, stale) {
  const c = await call("GET", `/stocktakes/${encodeURIComponent(id)}`);
  const stations = c.status === "open" ? await call("GET", "/stations") : [];
  if (stale()) return;
  // The boxes the supervisor unticked in this closed count stay unticked when it is drawn
  // again (the stream asks again after the close too): approving must not take them back.
  const detail = $("st-detail");
  const unticked = new Set(detail.dataset.count === c.id && detail.dataset.status === "closed"
    ? [...document.querySelectorAll("#st-diffs input[type=checkbox]:not(:checked)")].map((b) => b.value) : []);
  detail.dataset.count = c.id;
  $("st-detail").hidden = false;
  $("st-id").textContent = c.id;
  $("st-where").textContent = c.location;
  $("st-status").textContent = t(c.status);
  $("st-detail").dataset.status = c.status;
  $("st-count-form").hidden = c.status !== "open";
  $("st-close").hidden = c.status !== "open";
  $("st-approve").hidden = c.status !== "closed";
  if (c.status === "open") {
    const sel = $("st-station");
    const had = sel.value;
    sel.replaceChildren(...stations.map((s) => el("option", {
      value: s.station, text: `${s.station} · ${s.mode === "counting" ? `${t("counting")} ${s.stocktake || ""}` : s.mode}`,
    })));
    if (had) sel.value = had;
  }
  const groups = ["unexpected", "missing", "wrong_place"].map((kind) => {
    const rows = c[kind].map((d) => {
      const box = el("input", { type: "checkbox", value: d.drum, "aria-label": d.drum });
      box.checked = c.status === "closed" ? !unticked.has(d.drum) : c.adjusted.includes(d.drum);
      box.disabled = c.status !== "closed";
      return el("tr", { "data-drum": d.drum, "data-kind": kind, class: c.adjusted.includes(d.drum) ? "adjusted" : "" },
        el("td", {}, box), el("td", { text: d.drum }), el("td", { text: d.sku }), el("td", { text: d.book_location }));
    });
    return el("section", { class: "diff", "data-kind": kind },
      el("h3", { text: `${t(kind)} (${c[kind].length})` }),
      el("table", { class: "grid" },
        el("thead", {}, el("tr", {}, el("th"), el("th", { text: t("drumLabel") }), el("th", { text: t("sku") }), el("th", { text: t("bookLocation") }))),
        el("tbody", {}, ...rows)));
  });
  $("st-diffs").replaceChildren(...(c.status === "open" ? [] : groups));
}

async function countAction(method, path, body) {
  $("st-error").textContent = "";
  try {
    const c = await call(method, path, body);
    toast(`${c.id}: ${t(c.status)}`);
    shownCount = c.id;
    await loadCounts();
  } catch (e) {
    $("st-error").textContent = e.message;
  }
}

// -- audit and alert history ----------------------------------------------------------------
const short = (v) => (v === null || v === undefined ? "" : JSON.stringify(v));

async function loadAudit() {
  const form = $("audit-form");
  const rows = await call("GET", `/audit?${query(form)}`);
  $("audit-rows").replaceChildren(...rows.map((a) => el("tr", { "data-command": a.command },
    el("td", { text: when(a.time) }), el("td", { class: "actor", text: a.actor }), el("td", { text: a.command }),
    el("td", { text: a.container_no || "" }), el("td", { class: "json", text: short(a.args) }),
    el("td", { class: "json", text: short(a.result) }))));
  $("audit-empty").hidden = rows.length > 0;
  $("audit-csv").href = `${API}/audit.csv?${query(form, { access_token: state.token })}`;
}
LOADERS.audit = () => loadAudit().catch((e) => toast(e.message, true));

async function loadAlerts() {
  const rows = await call("GET", `/audit/alerts?${query($("alerts-form"))}`);
  $("alert-rows").replaceChildren(...rows.map((a) => el("tr", { "data-alert": a.id, "data-state": a.state },
    el("td", { text: when(a.raised_at) }), el("td", { text: a.kind }), el("td", { class: "state", text: t(a.state) }),
    el("td", { text: a.message }), el("td", { text: a.acknowledged_by || "" }), el("td", { text: when(a.cleared_at) }))));
  $("alerts-empty").hidden = rows.length > 0;
}
LOADERS.alerts = () => loadAlerts().catch((e) => toast(e.message, true));

// -- the SKU catalogue ----------------------------------------------------------------------
const prices = (p) => Object.entries(p || {}).map(([c, v]) => `${c}=${v}`).join(" ");

let cataloguesAsked = 0;
let catalogueSeen = false; // state.skus is the catalogue once an answer came
async function loadCatalogue() {
  // Asked again by the stream while an answer is on its way: only the latest is shown.
  const n = ++cataloguesAsked;
  const skus = await call("GET", "/catalogue");
  if (n !== cataloguesAsked) return;
  const before = catalogueSeen ? state.skus : null;
  state.skus = skus;
  catalogueSeen = true;
  const admin = allowed("admin");
  $("sku-rows").replaceChildren(...state.skus.map((s) => {
    const tools = el("td");
    if (admin) {
      const edit = el("button", { type: "button", class: "edit", text: t("edit") });
      edit.addEventListener("click", () => fillSku(s));
      tools.append(edit);
      if (!s.retired) {
        const retire = el("button", { type: "button", class: "retire", text: t("retire") });
        retire.addEventListener("click", () => retireSku(s.sku));
        tools.append(retire);
      }
    }
    return el("tr", { "data-sku": s.sku, class: s.retired ? "retired" : "" },
      el("td", { text: s.sku }), el("td", { text: s.name }), el("td", { text: s.size }),
      el("td", { class: "n", text: `${s.min_kg}–${s.max_kg}` }), el("td", { text: s.hs_code }),
      el("td", { text: s.gtin || "" }), el("td", { class: "n", text: s.capacity_drums ?? "" }),
      el("td", { text: prices(s.unit_prices) }), el("td", { class: "n", text: s.packaging_kg ?? "" }),
      el("td", { class: "n", text: s.volume_m3 ?? "" }), el("td", { text: t(s.retired ? "retired" : "active") }), tools);
  }));
  if (before) followForm(before);
}
LOADERS.catalogue = () => loadCatalogue().catch((e) => toast(e.message, true));

// The fields the form shows, as it shows them: what the admin edits and a save replaces
// (the fields it does not show are taken from the catalogue as it is at the save).
const FORM_FIELDS = ["sku", "name", "size", "min_kg", "max_kg", "hs_code", "gtin", "capacity_drums", "packaging_kg", "volume_m3", "origin_criterion"];
function formOf(s) {
  const o = Object.fromEntries(FORM_FIELDS.map((k) => [k, String(s[k] ?? "")]));
  return JSON.stringify({ ...o, unit_prices: prices(s.unit_prices) });
}
function formNow() {
  const f = $("sku-form");
  const o = Object.fromEntries(FORM_FIELDS.map((k) => [k, f[k].value]));
  return JSON.stringify({ ...o, unit_prices: f.unit_prices.value });
}
const sameSku = (a, b) => (a && b ? formOf(a) === formOf(b) && !!a.retired === !!b.retired : a === b);

function fillSku(s, focus = true) {
  const f = $("sku-form");
  for (const k of FORM_FIELDS) f[k].value = s[k] ?? "";
  f.unit_prices.value = prices(s.unit_prices);
  quietForm();
  if (focus) f.name.focus();
}

// What changed meanwhile in the SKU the form holds: {key, sku} for the note, and the SKU as
// saved now (null: not in the catalogue) for "use the saved values".
let formChanged = null;
let skuSaving = false; // this page's own save or retirement on its way: no news
function sayFormChanged() {
  const note = $("sku-changed");
  note.hidden = !formChanged;
  $("sku-theirs").hidden = !formChanged || formChanged.key === "skuFollowed";
  note.dataset.changed = formChanged ? formChanged.key : "";
  note.textContent = formChanged ? t(formChanged.key).replace("{sku}", formChanged.sku) : "";
}
function quietForm() {
  formChanged = null;
  sayFormChanged();
}

/** The catalogue was asked again: if the SKU in the form changed meanwhile (another admin,
 * another page), an untouched form shows it; edits not saved are kept, and a note says a
 * save would replace their change (an admin mid-edit expects what they typed to stay). */
function followForm(before) {
  const f = $("sku-form");
  const key = f.sku.value.trim();
  if (!key || skuSaving || !allowed("admin")) return;
  const was = before.find((s) => s.sku === key) || null;
  const now = state.skus.find((s) => s.sku === key) || null;
  // Nothing new for the form (fields it does not show are taken at the save anyway).
  if (sameSku(was, now)) return;
  if (now && formNow() === formOf(now) && !now.retired) { quietForm(); return; } // already as saved
  const edited = !was || formNow() !== formOf(was);
  if (!edited && now) fillSku(now, false);
  // Saving sets it active: a retirement meanwhile is said as such.
  const say = now && now.retired && !(was && was.retired) ? "skuRetiredMeanwhile" : edited ? "skuMeanwhile" : "skuFollowed";
  formChanged = { key: say, sku: key, now };
  sayFormChanged();
}

function takeSaved() {
  const now = formChanged && formChanged.now;
  if (now) fillSku(now);
  else $("sku-form").reset();
  quietForm();
}

async function submitSku(ev) {
  ev.preventDefault();
  const f = ev.target;
  const key = f.sku.value.trim();
  // The SKU whole: fields the form does not show (package kind, unit code ...) kept as they are.
  const had = state.skus.find((s) => s.sku === key) || {};
  const spec = { ...had };
  delete spec.sku;
  const num = (v) => (String(v).trim() === "" ? null : Number(v));
  Object.assign(spec, {
    name: f.name.value.trim(), size: f.size.value.trim(), min_kg: num(f.min_kg.value), max_kg: num(f.max_kg.value),
    hs_code: f.hs_code.value.trim(), gtin: f.gtin.value.trim() || null, capacity_drums: num(f.capacity_drums.value),
    packaging_kg: num(f.packaging_kg.value), volume_m3: num(f.volume_m3.value),
    origin_criterion: f.origin_criterion.value.trim(), retired: false,
    unit_prices: Object.fromEntries(f.unit_prices.value.split(/[\s,;]+/).filter(Boolean).map((p) => p.split("="))),
  });
  $("sku-error").textContent = "";
  skuSaving = true;
  try {
    const saved = await call("PUT", `/catalogue/${encodeURIComponent(key)}`, spec);
    // This page's own change is no news when the catalogue is asked again.
    state.skus = [...state.skus.filter((s) => s.sku !== key), saved];
    toast(`${t("saved")}: ${key}`);
    f.reset();
    await loadCatalogue();
  } catch (e) {
    $("sku-error").textContent = e.message;
  } finally {
    skuSaving = false;
  }
}

async function retireSku(key) {
  if (!confirm(t("confirmRetire"))) return;
  skuSaving = true;
  try {
    const retired = await call("POST", `/catalogue/${encodeURIComponent(key)}/retire`);
    state.skus = state.skus.map((s) => (s.sku === key ? retired : s)); // no news, as a save
    toast(`${t("retired")}: ${key}`);
    await loadCatalogue();
  } catch (e) {
    toast(e.message, true);
  } finally {
    skuSaving = false;
  }
}

// Asked again by the stream: at most one request on its way; changes told meanwhile ask
// once more after it (a counting station scans faster than the answers may come).
function coalesced(load) {
  let busy = false;
  let more = false;
  return async () => {
    if (busy) { more = true; return; }
    busy = true;
    try {
      do { more = false; await load(); } while (more);
    } finally {
      busy = false;
    }
  };
}

// The live stream: the tab shown follows what other people change, without a reload.
// - catalogue: on `skus` it asks GET /catalogue again (the event carries what every worker
//   may see; this table shows every field); the form follows as followForm says;
// - stock: drawn from the `stock` event itself (the same body as GET /stock);
// - stocktake: on `stocktake` (opened, counted, closed, approved), and on `station` while
//   an open count is shown (its counting stations), it asks the counts and the shown one again.
// Other tabs are loaded afresh when they are opened.
function followStream() {
  const es = new EventSource(`${API}/stream?access_token=${encodeURIComponent(state.token)}`);
  const shown = (tab, f) => () => { if (currentTab() === tab) f(); };
  const catalogue = shown("catalogue", coalesced(LOADERS.catalogue));
  const counts = shown("stocktake", coalesced(LOADERS.stocktake));
  // Whether the stream is on, for whoever looks (and the tests): "wait" while reconnecting.
  es.addEventListener("open", () => { $("ops").dataset.stream = "on"; });
  es.addEventListener("error", () => { $("ops").dataset.stream = es.readyState === EventSource.CLOSED ? "off" : "wait"; });
  // The snapshot: on connecting and after a reconnect (a change may have come meanwhile).
  es.addEventListener("snapshot", (e) => {
    if (currentTab() === "stock") followStock(JSON.parse(e.data).stock);
    catalogue();
    counts();
  });
  es.addEventListener("skus", catalogue);
  es.addEventListener("stock", (e) => { if (currentTab() === "stock") followStock(JSON.parse(e.data)); });
  es.addEventListener("stocktake", counts);
  // A station's change matters here only for an open count's counting stations (stations
  // report every few seconds: not a reason to ask for every count again).
  es.addEventListener("station", () => { if (!$("st-detail").hidden && $("st-detail").dataset.status === "open") counts(); });
  es.addEventListener("revoked", () => { es.close(); $("ops").dataset.stream = "off"; });
}

// -- exports --------------------------------------------------------------------------------
LOADERS.export = () => {
  const q = `access_token=${encodeURIComponent(state.token)}`;
  $("csv-scans").href = `${API}/scans.csv?${q}`;
  $("csv-stock").href = `${API}/stock.csv?${q}`;
  $("csv-audit").href = `${API}/audit.csv?${q}`;
};

// -- start ----------------------------------------------------------------------------------
async function start() {
  translate();
  onLanguage(state, () => { translate(); showTab(); });
  if (!state.token) { $("signin").hidden = false; return; }
  try {
    state.site = await call("GET", "/site");
  } catch (e) {
    $("signin").hidden = false;
    toast(e.message, true);
    return;
  }
  $("site-name").textContent = state.site.site;
  $("who").textContent = `${state.site.me.name} · ${state.site.me.role}`;
  // What the role may not do is not shown (the API refuses it anyway).
  for (const n of document.querySelectorAll("[data-role]")) {
    if (!allowed(n.dataset.role)) { n.hidden = true; n.dataset.denied = "1"; }
  }
  for (const n of document.querySelectorAll("[data-role]:not([data-denied])")) {
    if (n.tagName !== "SECTION") n.hidden = false;
  }
  $("audit-kind").append(...COMMANDS.map((c) => el("option", { value: c, text: c })));
  for (const b of document.querySelectorAll("#tabs [data-tab]")) {
    b.addEventListener("click", () => {
      const hash = `#tab=${b.dataset.tab}`;
      if (location.hash === hash) showTab(); // the same tab again: loaded afresh
      else location.hash = hash;
    });
  }
  window.addEventListener("hashchange", showTab);
  const sf = $("stock-form");
  sf.kind.addEventListener("change", () => showFieldsFor(sf, sf.kind.value));
  showFieldsFor(sf, sf.kind.value);
  sf.addEventListener("submit", submitStock);
  const cf = $("container-form");
  cf.kind.addEventListener("change", () => showFieldsFor(cf, cf.kind.value));
  showFieldsFor(cf, cf.kind.value);
  cf.addEventListener("submit", submitContainer);
  $("audit-form").addEventListener("submit", (ev) => { ev.preventDefault(); LOADERS.audit(); });
  $("alerts-form").addEventListener("submit", (ev) => { ev.preventDefault(); LOADERS.alerts(); });
  $("sku-form").addEventListener("submit", submitSku);
  $("sku-form").addEventListener("reset", quietForm);
  $("sku-theirs").addEventListener("click", takeSaved);
  $("st-open-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("st-error").textContent = "";
    try {
      const c = await call("POST", "/stocktakes", { location: $("st-location").value.trim() });
      toast(`${c.id}: ${t(c.status)}`);
      shownCount = c.id;
      await loadCounts();
    } catch (e) {
      toast(e.message, true);
    }
  });
  $("st-count-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await call("PUT", `/stations/${encodeURIComponent($("st-station").value)}/mode`, { mode: "counting", stocktake: shownCount });
      toast(`${$("st-station").value}: ${t("counting")}`);
      await loadCounts();
    } catch (e) {
      $("st-error").textContent = e.message;
    }
  });
  $("st-close").addEventListener("click", () => countAction("POST", `/stocktakes/${encodeURIComponent(shownCount)}/close`));
  $("st-approve").addEventListener("click", () => {
    const drums = [...document.querySelectorAll("#st-diffs input[type=checkbox]:checked")].map((b) => b.value);
    countAction("POST", `/stocktakes/${encodeURIComponent(shownCount)}/approve`, { drums });
  });
  $("ops").hidden = false;
  showTab();
  followStream();
}

start();
