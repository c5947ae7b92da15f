/* Gudang dashboard: plain JavaScript, no build step, nothing from the internet.
 * State comes from the live stream (/api/v1/stream): a snapshot, then one event per change.
 */
"use strict";

const API = "/api/v1";
const TOKEN_KEY = "gudang.token";
const LANG_KEY = "gudang.lang";
// A forecast closer than this is shown as urgent: time to bring the next container.
const SOON_MS = 60 * 60 * 1000;
// The stations' "drums per hour" bars: this many hours back, refreshed this often.
const HOURLY_HOURS = 12;
const HOURLY_REFRESH_MS = 60 * 1000;
// Short names people use for Indonesia's zones; Intl gives "GMT+7" in English.
const ZONE_NAMES = { "Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT" };

const WORDS = {
  id: {
    offline: "Terputus", live: "Langsung", connecting: "Menyambung…",
    signOut: "Keluar", signIn: "Masuk", tokenLabel: "Token akses",
    tokenHint: "Minta token ke admin. Token disimpan di peramban ini.",
    badToken: "Token tidak dikenal.", unreachable: "Server tidak terjangkau.",
    containers: "Kontainer", alerts: "Peringatan", stock: "Stok per SKU", stations: "Stasiun",
    noContainers: "Belum ada kontainer.", noAlerts: "Tidak ada peringatan aktif.",
    noStock: "Stok kosong.", noStations: "Belum ada stasiun.",
    sku: "SKU", warehouse: "Gudang", heldQc: "Ditahan QC", inContainers: "Di kontainer", total: "Total",
    drumsUnit: "drum", byCount: "jumlah", byWeight: "berat", rate: "Laju", fullAt: "Penuh pada", lastScan: "Scan terakhir",
    perHour: "drum/jam", perHourChart: "Drum dimuat per jam (12 jam)", noRate: "belum ada", packingList: "Packing list", csv: "CSV",
    notSealed: "belum disegel", seal: "segel",
    status: { open: "dibuka", loading: "dimuat", full: "penuh", sealed: "disegel", shipped: "dikirim" },
    ack: "Konfirmasi", acked: "dikonfirmasi oleh", raised: "muncul",
    ackDone: "Peringatan dikonfirmasi.", ackFailed: "Gagal mengonfirmasi",
    online: "online", offlineSt: "offline", mode: { loading: "muat", receiving: "terima", unknown: "?" },
    activeContainer: "Kontainer", supplier: "Pemasok", none: "—", scans: "scan", spool: "antrean",
    inTime: "lagi", ago: "lalu",
    kinds: {
      container_nearly_full: "Kontainer hampir penuh", container_full: "Kontainer penuh",
      container_overweight: "Kontainer kelebihan berat", weight_out_of_range: "Berat di luar batas",
      duplicate_scan: "Scan ganda", wrong_container: "Salah kontainer", unknown_barcode: "Barcode tak dikenal",
      scale_error: "Timbangan bermasalah", station_offline: "Stasiun offline",
      spool_nearly_full: "Antrean stasiun hampir penuh", storage_unreachable: "Database tak terjangkau",
      broker_unreachable: "Broker tak terjangkau", clock_skew: "Jam perangkat salah",
    },
  },
  en: {
    offline: "Offline", live: "Live", connecting: "Connecting…",
    signOut: "Sign out", signIn: "Sign in", tokenLabel: "Access token",
    tokenHint: "Ask an admin for a token. It is kept in this browser.",
    badToken: "Unknown token.", unreachable: "Server unreachable.",
    containers: "Containers", alerts: "Alerts", stock: "Stock by SKU", stations: "Stations",
    noContainers: "No containers yet.", noAlerts: "No active alerts.",
    noStock: "No stock.", noStations: "No stations yet.",
    sku: "SKU", warehouse: "Warehouse", heldQc: "QC hold", inContainers: "In containers", total: "Total",
    drumsUnit: "drums", byCount: "count", byWeight: "weight", rate: "Rate", fullAt: "Full at", lastScan: "Last scan",
    perHour: "drums/h", perHourChart: "Drums loaded per hour (12 h)", noRate: "not yet", packingList: "Packing list", csv: "CSV",
    notSealed: "not sealed", seal: "seal",
    status: { open: "open", loading: "loading", full: "full", sealed: "sealed", shipped: "shipped" },
    ack: "Acknowledge", acked: "acknowledged by", raised: "raised",
    ackDone: "Alert acknowledged.", ackFailed: "Could not acknowledge",
    online: "online", offlineSt: "offline", mode: { loading: "loading", receiving: "receiving", unknown: "?" },
    activeContainer: "Container", supplier: "Supplier", none: "—", scans: "scans", spool: "spool",
    inTime: "from now", ago: "ago",
    kinds: {
      container_nearly_full: "Container nearly full", container_full: "Container full",
      container_overweight: "Container overweight", weight_out_of_range: "Weight out of range",
      duplicate_scan: "Duplicate scan", wrong_container: "Wrong container", unknown_barcode: "Unknown barcode",
      scale_error: "Scale error", station_offline: "Station offline",
      spool_nearly_full: "Station spool nearly full", storage_unreachable: "Database unreachable",
      broker_unreachable: "Broker unreachable", clock_skew: "Device clock wrong",
    },
  },
};

const state = {
  token: localStorage.getItem(TOKEN_KEY) || "",
  lang: localStorage.getItem(LANG_KEY) || "id",
  site: null,
  containers: new Map(),
  stations: new Map(),
  alerts: new Map(),
  stock: { items: [], totals: [] },
  hourly: new Map(), // station -> [{hour, scans, loaded}], oldest first
  source: null,
};

const $ = (id) => document.getElementById(id);
const t = (key) => WORDS[state.lang][key] ?? WORDS.en[key] ?? key;
const canSupervise = () => state.site && ["supervisor", "admin"].includes(state.site.me.role);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

// -- time, numbers ---------------------------------------------------------------------------
function zone() { return (state.site && state.site.timezone) || "Asia/Jakarta"; }
function locale() { return state.lang === "id" ? "id-ID" : "en-GB"; }
function zoneName() { return ZONE_NAMES[zone()] || zone(); }
function fmtTime(iso, withDate = false) {
  if (!iso) return t("none");
  const d = new Date(iso);
  const opts = { timeZone: zone(), hour: "2-digit", minute: "2-digit", hour12: false };
  if (withDate) Object.assign(opts, { day: "numeric", month: "short" });
  return `${new Intl.DateTimeFormat(locale(), opts).format(d)} ${zoneName()}`;
}
function fmtRelative(iso) {
  const ms = new Date(iso).getTime() - Date.now();
  const mins = Math.round(Math.abs(ms) / 60000);
  const h = state.lang === "id" ? "j" : "h";
  const text = mins < 60 ? `${mins} m` : `${Math.floor(mins / 60)} ${h} ${mins % 60} m`;
  return ms >= 0 ? `${text} ${t("inTime")}` : `${text} ${t("ago")}`;
}
function fmtNum(n, digits = 0) {
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(n);
}
function pct(ratio) { return `${fmtNum(Math.min(ratio, 9.99) * 100, ratio < 0.1 ? 1 : 0)}%`; }

// -- rendering ------------------------------------------------------------------------------
function applyWords() {
  document.documentElement.lang = state.lang;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const b of document.querySelectorAll(".lang button")) b.setAttribute("aria-pressed", String(b.dataset.lang === state.lang));
  setLive($("live").dataset.state);
}

function setGauge(fig, ratio) {
  const r = Math.max(0, Math.min(ratio, 1));
  fig.querySelector(".bar").style.strokeDasharray = `${(r * 100).toFixed(2)} 100`;
  fig.querySelector(".pct").textContent = pct(ratio);
  fig.dataset.level = ratio >= 1 ? "full" : ratio >= 0.95 ? "near" : "ok";
}

function renderContainer(c) {
  let card = document.querySelector(`[data-container="${CSS.escape(c.container_no)}"]`);
  if (!card) {
    card = $("tpl-container").content.firstElementChild.cloneNode(true);
    card.dataset.container = c.container_no;
    for (const node of card.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  } else if (Number(card.dataset.drums) !== c.drums) {
    card.classList.remove("flash");
    void card.offsetWidth; // restart the animation
    card.classList.add("flash");
  }
  card.dataset.drums = c.drums;
  card.dataset.status = c.status;
  card.querySelector(".cno").textContent = c.container_no_formatted;
  card.querySelector(".ctype").textContent = c.container_type;
  card.querySelector(".seal").textContent = c.seal_no ? `${t("seal")} ${c.seal_no}` : t("notSealed");
  const badge = card.querySelector(".status");
  badge.className = `badge status ${c.status}`;
  badge.textContent = t("status")[c.status] || c.status;
  setGauge(card.querySelector(".gauge.count"), c.fill_ratio);
  setGauge(card.querySelector(".gauge.weight"), c.weight_ratio);
  card.querySelector(".drums").textContent = fmtNum(c.drums);
  card.querySelector(".cap").textContent = fmtNum(c.capacity_drums);
  card.querySelector(".kg").textContent = fmtNum(c.net_weight_kg);
  card.querySelector(".maxkg").textContent = fmtNum(c.max_payload_kg);
  card.querySelector(".rate").textContent = c.rate_drums_per_h != null ? `${fmtNum(c.rate_drums_per_h)} ${t("perHour")}` : t("noRate");
  const fc = card.querySelector(".forecast");
  const loading = c.status === "open" || c.status === "loading";
  if (c.forecast_full_at && loading) {
    fc.textContent = `${fmtTime(c.forecast_full_at, true)} (${fmtRelative(c.forecast_full_at)})`;
    fc.classList.toggle("soon", new Date(c.forecast_full_at).getTime() - Date.now() < SOON_MS);
  } else {
    fc.textContent = c.status === "full" ? t("status").full : t("none");
    fc.classList.remove("soon");
  }
  card.querySelector(".last").textContent = c.last_scan_at ? fmtTime(c.last_scan_at, true) : t("none");
  const skus = card.querySelector(".skus");
  skus.replaceChildren(...Object.entries(c.drums_by_sku).sort().map(([sku, n]) =>
    el("span", { class: "chip" }, `${sku} `, el("b", { text: fmtNum(n) }))));
  const q = `access_token=${encodeURIComponent(state.token)}`;
  card.querySelector(".pl-html").href = `${API}/containers/${c.container_no}/packing-list.html?lang=${state.lang}&${q}`;
  card.querySelector(".pl-pdf").href = `${API}/containers/${c.container_no}/packing-list.pdf?lang=${state.lang}&${q}`;
  card.querySelector(".pl-csv").href = `${API}/containers/${c.container_no}/packing-list.csv?${q}`;
  return card;
}

const STATUS_ORDER = { loading: 0, open: 1, full: 2, sealed: 3, shipped: 4 };
function renderContainers() {
  const list = [...state.containers.values()].sort((a, b) =>
    (STATUS_ORDER[a.status] - STATUS_ORDER[b.status]) || String(b.opened_at).localeCompare(String(a.opened_at)));
  $("containers").replaceChildren(...list.map(renderContainer));
  $("containers-empty").hidden = list.length > 0;
}

const SEVERITY_ORDER = { critical: 0, warning: 1, info: 2 };
function renderAlerts() {
  const list = [...state.alerts.values()].filter((a) => a.state !== "cleared").sort((a, b) =>
    (SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]) || b.raised_at.localeCompare(a.raised_at));
  const items = list.map((a) => {
    const li = el("li", { class: `alert ${a.severity} ${a.state}`, "data-alert": a.id },
      el("span", { class: "sev" }));
    const body = el("div", {},
      el("div", { class: "what", text: t("kinds")[a.kind] || a.kind }),
      el("div", { class: "msg", text: a.message || a.subject }));
    const meta = a.state === "acknowledged"
      ? `${t("acked")} ${a.acknowledged_by} · ${fmtTime(a.acknowledged_at, true)}`
      : `${t("raised")} ${fmtTime(a.raised_at, true)}`;
    body.append(el("div", { class: "meta", text: meta }));
    li.append(body);
    if (a.state === "raised" && canSupervise()) {
      const b = el("button", { type: "button", class: "ack", text: t("ack") });
      b.addEventListener("click", () => acknowledge(a.id, b));
      li.append(b);
    } else {
      li.append(el("span"));
    }
    return li;
  });
  $("alerts").replaceChildren(...items);
  $("alerts-empty").hidden = list.length > 0;
  const raised = list.filter((a) => a.state === "raised").length;
  $("alert-count").textContent = String(list.length);
  $("alert-count").classList.toggle("hot", raised > 0);
  document.title = raised ? `(${raised}) Gudang` : "Gudang";
}

function renderStock() {
  const names = new Map(((state.site && state.site.skus) || []).map((s) => [s.sku, s.name]));
  const totals = state.stock.totals || [];
  const rows = totals.map((s) => el("tr", { "data-sku": s.sku },
    el("td", {}, s.sku, el("span", { class: "name", text: names.get(s.sku) || s.description })),
    el("td", { class: "n", text: fmtNum(s.in_warehouse) }),
    el("td", { class: "n", text: fmtNum(s.held_qc) }),
    el("td", { class: "n", text: fmtNum(s.in_containers) }),
    el("td", { class: "n", text: fmtNum(s.drums) })));
  if (totals.length > 1) {
    const sum = (k) => totals.reduce((n, s) => n + s[k], 0);
    rows.push(el("tr", { class: "sum" }, el("td", { text: t("total") }),
      el("td", { class: "n", text: fmtNum(sum("in_warehouse")) }),
      el("td", { class: "n", text: fmtNum(sum("held_qc")) }),
      el("td", { class: "n", text: fmtNum(sum("in_containers")) }),
      el("td", { class: "n", text: fmtNum(sum("drums")) })));
  }
  $("stock").replaceChildren(...rows);
  $("stock-empty").hidden = totals.length > 0;
}

function renderStations() {
  const list = [...state.stations.values()].sort((a, b) => a.station.localeCompare(b.station));
  $("stations").replaceChildren(...list.map((s) => {
    const li = el("li", { class: `station${s.online ? " online" : ""}`, "data-station": s.station },
      el("div", { class: "name" }, el("span", { text: s.station }),
        el("span", { class: "state", text: s.online ? t("online") : t("offlineSt") })),
      s.mode === "receiving"
        ? el("div", { class: "line" }, `${t("mode")[s.mode]} · ${t("supplier")}: `,
          el("b", { text: s.supplier || t("none") }))
        : el("div", { class: "line" }, `${t("mode")[s.mode] || s.mode} · ${t("activeContainer")}: `,
          el("b", { text: s.active_container || t("none") })),
      el("div", { class: "line" }, `${t("lastScan")}: `, el("b", { text: fmtTime(s.last_scan_at, true) }),
        ` · ${fmtNum(s.scans)} ${t("scans")}`));
    if (s.spool_capacity) li.append(el("div", { class: "line", text: `${t("spool")}: ${fmtNum(s.spool_depth)} / ${fmtNum(s.spool_capacity)}` }));
    const hours = state.hourly.get(s.station);
    if (hours && hours.some((h) => h.scans)) li.append(sparkline(hours));
    if (s.devices.length) {
      li.append(el("div", { class: "devices" }, ...s.devices.map((d) =>
        el("span", { class: `device ${d.state}`, title: d.detail || d.state, text: `${d.name} (${d.role})` }))));
    }
    return li;
  }));
  $("stations-empty").hidden = list.length > 0;
}

function sparkline(hours) {
  const max = Math.max(1, ...hours.map((h) => h.scans));
  const w = 100 / hours.length;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 100 24");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("class", "spark");
  hours.forEach((h, i) => {
    for (const [value, cls] of [[h.scans, "all"], [h.loaded, "loaded"]]) {
      const r = document.createElementNS("http://www.w3.org/2000/svg", "rect");
      const height = (value / max) * 22;
      r.setAttribute("x", String(i * w + w * 0.12));
      r.setAttribute("width", String(w * 0.76));
      r.setAttribute("y", String(24 - height));
      r.setAttribute("height", String(height));
      r.setAttribute("class", cls);
      svg.append(r);
    }
    const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
    title.textContent = `${fmtTime(h.hour)}: ${h.loaded} / ${h.scans}`;
    svg.lastChild.append(title);
  });
  return el("div", { class: "hourly" }, el("span", { text: t("perHourChart") }), svg);
}

async function loadHourly() {
  if (!state.token || !state.site) return;
  try {
    const r = await fetch(`${API}/scans/hourly?hours=${HOURLY_HOURS}`, { headers: { Authorization: `Bearer ${state.token}` } });
    if (!r.ok) return;
    const by = new Map();
    for (const h of await r.json()) {
      if (!by.has(h.station)) by.set(h.station, []);
      by.get(h.station).push(h);
    }
    state.hourly = by;
    renderStations();
  } catch {
    /* the next refresh tries again */
  }
}

function renderAll() {
  applyWords();
  renderContainers();
  renderAlerts();
  renderStock();
  renderStations();
}

// -- live stream ----------------------------------------------------------------------------
function setLive(s) {
  $("live").dataset.state = s;
  $("live-text").textContent = t(s === "on" ? "live" : s === "wait" ? "connecting" : "offline");
}

function connect() {
  if (state.source) state.source.close();
  setLive("wait");
  const es = new EventSource(`${API}/stream?access_token=${encodeURIComponent(state.token)}`);
  state.source = es;
  es.addEventListener("open", () => setLive("on"));
  es.addEventListener("error", () => {
    setLive(es.readyState === EventSource.CLOSED ? "off" : "wait");
    if (es.readyState === EventSource.CLOSED) setTimeout(() => start(), 5000); // token revoked? ask again
  });
  es.addEventListener("snapshot", (e) => {
    const s = JSON.parse(e.data);
    state.containers = new Map(s.containers.map((c) => [c.container_no, c]));
    state.stations = new Map(s.stations.map((x) => [x.station, x]));
    state.alerts = new Map(s.alerts.map((a) => [a.id, a]));
    state.stock = s.stock;
    setLive("on");
    renderAll();
  });
  es.addEventListener("container", (e) => {
    const c = JSON.parse(e.data);
    if (c.removed) state.containers.delete(c.container_no); else state.containers.set(c.container_no, c);
    renderContainers();
  });
  es.addEventListener("station", (e) => {
    const s = JSON.parse(e.data);
    state.stations.set(s.station, s);
    renderStations();
  });
  es.addEventListener("alert", (e) => {
    const a = JSON.parse(e.data);
    if (a.removed || a.state === "cleared") state.alerts.delete(a.id); else state.alerts.set(a.id, a);
    renderAlerts();
  });
  es.addEventListener("stock", (e) => {
    state.stock = JSON.parse(e.data);
    renderStock();
  });
}

// -- actions --------------------------------------------------------------------------------
function toast(text, bad = false) {
  const n = $("toast");
  n.textContent = text;
  n.classList.toggle("bad", bad);
  n.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { n.hidden = true; }, 4000);
}

async function acknowledge(id, button) {
  button.disabled = true;
  try {
    const r = await fetch(`${API}/alerts/${encodeURIComponent(id)}/ack`, {
      method: "POST", headers: { Authorization: `Bearer ${state.token}` },
    });
    const body = await r.json();
    if (!r.ok) throw new Error(body.detail || r.status);
    if (body.state === "cleared") state.alerts.delete(id); else state.alerts.set(id, body);
    renderAlerts();
    toast(t("ackDone"));
  } catch (err) {
    button.disabled = false;
    toast(`${t("ackFailed")}: ${err.message}`, true);
  }
}

function showLogin(message = "") {
  if (state.source) { state.source.close(); state.source = null; }
  $("main").hidden = true;
  $("sign-out").hidden = true;
  $("who").textContent = "";
  $("login").hidden = false;
  $("login-error").textContent = message;
  $("token").focus();
}

async function start() {
  if (!state.token) { showLogin(); return; }
  let r;
  try {
    r = await fetch(`${API}/site`, { headers: { Authorization: `Bearer ${state.token}` } });
  } catch {
    showLogin(t("unreachable"));
    return;
  }
  if (r.status === 401) { localStorage.removeItem(TOKEN_KEY); state.token = ""; showLogin(t("badToken")); return; }
  if (!r.ok) { showLogin(`${t("unreachable")} (${r.status})`); return; }
  state.site = await r.json();
  $("site-name").textContent = state.site.site;
  $("who").textContent = `${state.site.me.name} · ${state.site.me.role}`;
  $("login").hidden = true;
  $("main").hidden = false;
  $("sign-out").hidden = false;
  renderAll();
  connect();
  loadHourly();
}

function tick() {
  if (!state.site && !$("clock").textContent) return;
  const opts = { timeZone: zone(), weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
  $("clock").textContent = `${new Intl.DateTimeFormat(locale(), opts).format(new Date())} ${zoneName()}`;
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.token = $("token").value.trim();
    localStorage.setItem(TOKEN_KEY, state.token);
    $("token").value = "";
    start();
  });
  $("sign-out").addEventListener("click", () => {
    localStorage.removeItem(TOKEN_KEY);
    state.token = "";
    state.site = null;
    showLogin();
  });
  for (const b of document.querySelectorAll(".lang button")) {
    b.addEventListener("click", () => {
      state.lang = b.dataset.lang;
      localStorage.setItem(LANG_KEY, state.lang);
      renderAll();
      tick();
    });
  }
  applyWords();
  $("clock").textContent = " ";
  tick();
  setInterval(tick, 1000);
  // Forecasts say "in 2 h 10 m": refresh them as time passes.
  setInterval(renderContainers, 30000);
  setInterval(loadHourly, HOURLY_REFRESH_MS);
  start();
});
