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
const TIMELINE_REFRESH_MS = 60 * 1000; // a card's fill timeline: refreshed this often,
const TIMELINE_CHANGED_MS = 5 * 1000; // or this soon after its drum count changed
const TIMELINE_POINTS = 60; // buckets across the time since the container was opened
// Short names people use for Indonesia's zones; Intl gives "GMT+7" in English.
const ZONE_NAMES = { "Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT" };

const WORDS = {
  id: {
    offline: "Terputus", live: "Langsung", connecting: "Menyambung…",
    signOut: "Keluar", signIn: "Masuk", tokenLabel: "Token akses", opsLink: "Operasional",
    tokenHint: "Minta token ke admin. Token disimpan di peramban ini.",
    badToken: "Token tidak dikenal.", unreachable: "Server tidak terjangkau.",
    containers: "Kontainer", alerts: "Peringatan", stock: "Stok per SKU", stations: "Stasiun",
    noContainers: "Belum ada kontainer.", noAlerts: "Tidak ada peringatan aktif.",
    noStock: "Stok kosong.", noStations: "Belum ada stasiun.",
    sku: "SKU", warehouse: "Gudang", heldQc: "Ditahan QC", inContainers: "Di kontainer", total: "Total",
    drumsUnit: "drum", byCount: "jumlah", byWeight: "berat", rate: "Laju", fullAt: "Penuh pada", lastScan: "Scan terakhir",
    perHour: "drum/jam", perHourChart: "Drum dimuat per jam (12 jam)", fillTimeline: "Riwayat isi sejak dibuka", olderShipped: "{n} kontainer dikirim lebih dari 3 hari lalu tidak ditampilkan.", noRate: "belum ada", packingList: "Packing list", csv: "CSV",
    notSealed: "belum disegel", seal: "segel",
    status: { open: "dibuka", loading: "dimuat", full: "penuh", sealed: "disegel", shipped: "dikirim" },
    ack: "Konfirmasi", acked: "dikonfirmasi oleh", raised: "muncul",
    ackDone: "Peringatan dikonfirmasi.", ackFailed: "Gagal mengonfirmasi",
    online: "online", offlineSt: "offline", mode: { loading: "muat", receiving: "terima", unknown: "?" },
    openContainer: "Buka kontainer", containerNo: "Nomor kontainer",
    containerNoHint: "ISO 6346, boleh dengan atau tanpa spasi", containerType: "Tipe",
    capacity: "Kapasitas (drum)", optional: "opsional", open: "Buka", cancel: "Batal",
    opened: "Kontainer dibuka", actions: "Tindakan",
    sealAction: "Segel", sealTitle: "Segel kontainer", sealNo: "Nomor segel",
    sealText: "Setelah disegel, tidak ada drum yang masuk atau keluar lagi.", sealed: "Kontainer disegel",
    shipAction: "Tandai dikirim", shipTitle: "Tandai kontainer sudah dikirim",
    shipText: "Kontainer ini sudah berangkat? Tindakan ini tidak bisa dibatalkan.",
    shipOk: "Ya, sudah dikirim", shipped: "Kontainer dikirim",
    unloadAction: "Keluarkan drum", unloadTitle: "Keluarkan drum (koreksi)",
    unloadText: "Drum kembali ke stok gudang.", drumLabel: "Label drum", reason: "Alasan",
    unloadOk: "Keluarkan", unloaded: "Drum dikeluarkan",
    result: { loaded: "Dimuat", duplicate: "Scan ganda", wrong_container: "Kontainer salah", rejected: "Ditolak",
      received: "Diterima", container_set: "Kontainer dipilih", supplier_set: "Pemasok dipilih" },
    notSaved: "TIDAK TERSIMPAN — scan lagi", stationError: "Galat stasiun",
    lastScanWord: "Scan terakhir", screenLink: "Layar stasiun", screenBack: "Semua", screenWaiting: "Menunggu scan…",
    outOfRange: "berat di luar rentang SKU", scale: "Timbangan",
    scaleStatus: { stable: "stabil", motion: "bergerak", overload: "kelebihan beban", underload: "di bawah nol",
      error: "galat", busy: "sibuk" },
    modeAction: "Ubah mode", modeTitle: "Mode stasiun", modeLabel: "Mode", supplierLabel: "Pemasok (stasiun terima)",
    modeText: "Stasiun muat mengisi kontainer; stasiun terima memasukkan drum dari pengrajin ke stok.",
    modeOk: "Simpan", modeChanged: "Mode diubah",
    pointLabel: "Kontainer aktif", pointSet: "Terapkan", pointNone: "— tidak ada —",
    pointed: "Stasiun diarahkan", pointFailed: "Gagal mengarahkan stasiun",
    refused: {
      401: "Token tidak dikenal atau sudah dicabut", 403: "Peran Anda tidak diizinkan",
      404: "Tidak dikenal", 409: "Tidak bisa pada status ini", 422: "Isian tidak valid",
      503: "Broker tidak terjangkau", 504: "Layanan tidak menjawab (mungkin tetap berlaku)",
    },
    failed: "Ditolak",
    activeContainer: "Kontainer", supplier: "Pemasok", none: "—", scans: "scan", spool: "antrean",
    inTime: "lagi", ago: "lalu",
    kinds: {
      container_nearly_full: "Kontainer hampir penuh", container_full: "Kontainer penuh",
      container_overweight: "Kontainer kelebihan berat", weight_out_of_range: "Berat di luar batas",
      duplicate_scan: "Scan ganda", wrong_container: "Salah kontainer", unknown_barcode: "Barcode tak dikenal",
      scale_error: "Timbangan bermasalah", station_offline: "Stasiun offline",
      spool_nearly_full: "Antrean stasiun hampir penuh", station_error: "Galat stasiun", storage_unreachable: "Database tak terjangkau",
      broker_unreachable: "Broker tak terjangkau", clock_skew: "Jam perangkat salah",
    },
  },
  en: {
    offline: "Offline", live: "Live", connecting: "Connecting…",
    signOut: "Sign out", signIn: "Sign in", tokenLabel: "Access token", opsLink: "Operations",
    tokenHint: "Ask an admin for a token. It is kept in this browser.",
    badToken: "Unknown token.", unreachable: "Server unreachable.",
    containers: "Containers", alerts: "Alerts", stock: "Stock by SKU", stations: "Stations",
    noContainers: "No containers yet.", noAlerts: "No active alerts.",
    noStock: "No stock.", noStations: "No stations yet.",
    sku: "SKU", warehouse: "Warehouse", heldQc: "QC hold", inContainers: "In containers", total: "Total",
    drumsUnit: "drums", byCount: "count", byWeight: "weight", rate: "Rate", fullAt: "Full at", lastScan: "Last scan",
    perHour: "drums/h", perHourChart: "Drums loaded per hour (12 h)", fillTimeline: "Fill since opened", olderShipped: "{n} containers shipped more than 3 days ago are not shown.", noRate: "not yet", packingList: "Packing list", csv: "CSV",
    notSealed: "not sealed", seal: "seal",
    status: { open: "open", loading: "loading", full: "full", sealed: "sealed", shipped: "shipped" },
    ack: "Acknowledge", acked: "acknowledged by", raised: "raised",
    ackDone: "Alert acknowledged.", ackFailed: "Could not acknowledge",
    online: "online", offlineSt: "offline", mode: { loading: "loading", receiving: "receiving", unknown: "?" },
    openContainer: "Open container", containerNo: "Container number",
    containerNoHint: "ISO 6346, with or without spaces", containerType: "Type",
    capacity: "Capacity (drums)", optional: "optional", open: "Open", cancel: "Cancel",
    opened: "Container opened", actions: "Actions",
    sealAction: "Seal", sealTitle: "Seal container", sealNo: "Seal number",
    sealText: "Once sealed, no drum goes in or out.", sealed: "Container sealed",
    shipAction: "Mark shipped", shipTitle: "Mark container shipped",
    shipText: "Has this container left? This cannot be undone.",
    shipOk: "Yes, it has shipped", shipped: "Container shipped",
    unloadAction: "Unload a drum", unloadTitle: "Unload a drum (correction)",
    unloadText: "The drum goes back to warehouse stock.", drumLabel: "Drum label", reason: "Reason",
    unloadOk: "Unload", unloaded: "Drum unloaded",
    result: { loaded: "Loaded", duplicate: "Duplicate scan", wrong_container: "Wrong container", rejected: "Refused",
      received: "Received", container_set: "Container set", supplier_set: "Supplier set" },
    notSaved: "NOT SAVED — scan again", stationError: "Station error",
    lastScanWord: "Last scan", screenLink: "Station screen", screenBack: "All", screenWaiting: "Waiting for a scan…",
    outOfRange: "weight outside the SKU's range", scale: "Scale",
    scaleStatus: { stable: "stable", motion: "moving", overload: "overload", underload: "underload",
      error: "error", busy: "busy" },
    modeAction: "Change mode", modeTitle: "Station mode", modeLabel: "Mode", supplierLabel: "Supplier (receiving)",
    modeText: "A loading station fills containers; a receiving station takes drums from craftsmen into stock.",
    modeOk: "Save", modeChanged: "Mode changed",
    pointLabel: "Active container", pointSet: "Set", pointNone: "— none —",
    pointed: "Station pointed", pointFailed: "Could not point the station",
    refused: {
      401: "Unknown or revoked token", 403: "Your role may not do this",
      404: "Not known", 409: "Not possible in this state", 422: "Invalid input",
      503: "Broker unreachable", 504: "The services did not answer (it may still take effect)",
    },
    failed: "Refused",
    activeContainer: "Container", supplier: "Supplier", none: "—", scans: "scans", spool: "spool",
    inTime: "from now", ago: "ago",
    kinds: {
      container_nearly_full: "Container nearly full", container_full: "Container full",
      container_overweight: "Container overweight", weight_out_of_range: "Weight out of range",
      duplicate_scan: "Duplicate scan", wrong_container: "Wrong container", unknown_barcode: "Unknown barcode",
      scale_error: "Scale error", station_offline: "Station offline",
      spool_nearly_full: "Station spool nearly full", station_error: "Station error", storage_unreachable: "Database unreachable",
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
  stationNodes: new Map(), // station -> its card and pointing form, kept across updates
  timelines: new Map(), // container -> {at, pending, body}: GET /containers/{no}/timeline
  weights: new Map(), // station -> its scale's latest live reading (the "weight" events)
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
  for (const node of document.querySelectorAll("[data-i18n-ph]")) node.placeholder = t(node.dataset.i18nPh);
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
  renderActions(card, c);
  const tl = state.timelines.get(c.container_no);
  if (tl && tl.body) drawTimeline(card, tl.body);
  if (c.status !== "shipped") loadTimeline(c);
  return card;
}

// The fill since the container was opened, from the stored scans (a step line under the
// capacity line); fetched when the card shows, then at most every TIMELINE_REFRESH_MS.
async function loadTimeline(c) {
  const no = c.container_no;
  const known = state.timelines.get(no) || {};
  const since = Date.now() - (known.at || 0);
  const wait = known.drums === c.drums ? TIMELINE_REFRESH_MS : TIMELINE_CHANGED_MS;
  if (known.pending || since < wait) {
    // Come back when it may be fetched, if no update comes first.
    if (!known.pending && !known.timer) {
      known.timer = setTimeout(() => {
        known.timer = null;
        const now = state.containers.get(no);
        if (now) loadTimeline(now);
      }, wait - since);
    }
    return;
  }
  state.timelines.set(no, { ...known, timer: null, pending: true });
  let body = known.body;
  try {
    const ageMin = c.opened_at ? (Date.now() - new Date(c.opened_at).getTime()) / 60000 : 60;
    const bucket = Math.min(1440, Math.max(1, Math.ceil(ageMin / TIMELINE_POINTS)));
    const r = await fetch(`${API}/containers/${encodeURIComponent(no)}/timeline?bucket_minutes=${bucket}`,
      { headers: { Authorization: `Bearer ${state.token}` } });
    if (r.ok) body = await r.json();
  } catch {
    /* the next update tries again */
  }
  state.timelines.set(no, { at: Date.now(), pending: false, body, drums: c.drums, timer: null });
  const card = document.querySelector(`[data-container="${CSS.escape(no)}"]`);
  if (card && body) drawTimeline(card, body);
}

function drawTimeline(card, body) {
  const fig = card.querySelector(".timeline");
  const points = body.points || [];
  fig.hidden = points.length < 2;
  if (fig.hidden) return;
  const t0 = new Date(points[0].time).getTime();
  const span = Math.max(1, new Date(points[points.length - 1].time).getTime() - t0);
  const cap = Math.max(1, body.capacity_drums, ...points.map((p) => p.drums));
  const x = (p) => ((new Date(p.time).getTime() - t0) / span * 100).toFixed(2);
  const y = (p) => (30 - (p.drums / cap) * 28).toFixed(2);
  let d = `M0 ${y(points[0])}`;
  for (const p of points.slice(1)) d += ` H${x(p)} V${y(p)}`;
  fig.querySelector(".fill-line").setAttribute("d", d);
  fig.querySelector(".fill-area").setAttribute("d", `${d} V30 H0 Z`);
  fig.querySelector(".cap-line").setAttribute("d", `M0 ${(30 - (body.capacity_drums / cap) * 28).toFixed(2)} H100`);
  const last = points[points.length - 1];
  fig.querySelector("title").textContent =
    `${fmtTime(points[0].time, true)} → ${fmtTime(last.time, true)}: ${fmtNum(last.drums)} / ${fmtNum(body.capacity_drums)}`;
}

// The buttons a supervisor has on a card, by status; rebuilt only when they change, so a
// scan arriving does not take the focus away from them.
function renderActions(card, c) {
  const box = card.querySelector(".actions");
  const can = canSupervise();
  const key = `${c.status}|${c.drums > 0}|${can}|${state.lang}`;
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  const buttons = [];
  if (can) {
    const name = c.container_no_formatted;
    const add = (cls, word, run) => {
      const b = el("button", { type: "button", class: cls, text: t(word), "aria-label": `${t(word)} ${name}` });
      b.addEventListener("click", () => run(state.containers.get(c.container_no) || c, b));
      buttons.push(b);
    };
    if (c.status === "loading" || c.status === "full") add("act-seal", "sealAction", askSeal);
    if (c.status === "sealed") add("act-ship danger", "shipAction", askShip);
    if (["open", "loading", "full"].includes(c.status) && c.drums > 0) add("act-unload ghost", "unloadAction", askUnload);
  }
  box.setAttribute("aria-label", `${t("actions")} ${c.container_no_formatted}`);
  box.replaceChildren(...buttons);
  box.hidden = buttons.length === 0;
}

// Put nodes in a parent in this order, moving only when the order changed (moving a node
// takes the focus away from whatever is in it).
function placeInOrder(parent, nodes) {
  const same = parent.children.length === nodes.length && nodes.every((n, i) => parent.children[i] === n);
  if (!same) parent.replaceChildren(...nodes);
}

const STATUS_ORDER = { loading: 0, open: 1, full: 2, sealed: 3, shipped: 4 };
// A shipped container stays on the floor's screen this long after it left; older ones
// are counted under the cards (their packing lists stay in the API).
const SHIPPED_SHOWN_MS = 3 * 24 * 60 * 60 * 1000;
function renderContainers() {
  const cutoff = Date.now() - SHIPPED_SHOWN_MS;
  const gone = (c) => c.status === "shipped" && new Date(c.updated_at || 0).getTime() < cutoff;
  const all = [...state.containers.values()];
  const list = all.filter((c) => !gone(c)).sort((a, b) =>
    (STATUS_ORDER[a.status] - STATUS_ORDER[b.status]) || String(b.opened_at).localeCompare(String(a.opened_at)));
  placeInOrder($("containers"), list.map(renderContainer));
  $("containers-empty").hidden = list.length > 0;
  renderScreen();
  const older = all.length - list.length;
  $("containers-older").hidden = older === 0;
  $("containers-older").textContent = older ? t("olderShipped").replace("{n}", fmtNum(older)) : "";
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
  placeInOrder($("stations"), list.map(renderStation));
  $("stations-empty").hidden = list.length > 0;
  renderScreen();
}

// A station's card: its facts are rebuilt on every change; the form that points it at a
// container stays, so a scan arriving does not reset a choice being made.
function renderStation(s) {
  let node = state.stationNodes.get(s.station);
  if (!node) {
    const mode = el("button", { type: "button", class: "act-mode ghost" });
    mode.addEventListener("click", () => askMode(state.stations.get(s.station) || s));
    node = { li: el("li", { "data-station": s.station }), body: el("div"), form: pointForm(s.station), mode };
    node.li.append(node.body, node.form.form, mode);
    state.stationNodes.set(s.station, node);
  }
  node.mode.hidden = !canSupervise();
  node.mode.textContent = t("modeAction");
  node.mode.setAttribute("aria-label", `${t("modeAction")}: ${s.station}`);
  node.li.className = `station${s.online ? " online" : ""}`;
  const parts = [
    el("div", { class: "name" }, el("span", { text: s.station }),
      el("span", { class: "state", text: s.online ? t("online") : t("offlineSt") })),
    s.mode === "receiving"
      ? el("div", { class: "line" }, `${t("mode")[s.mode]} · ${t("supplier")}: `,
        el("b", { text: s.supplier || t("none") }))
      : el("div", { class: "line" }, `${t("mode")[s.mode] || s.mode} · ${t("activeContainer")}: `,
        el("b", { class: "active", text: s.active_container || t("none") })),
    el("div", { class: "line" }, `${t("lastScan")}: `, el("b", { text: fmtTime(s.last_scan_at, true) }),
      ` · ${fmtNum(s.scans)} ${t("scans")}`),
  ];
  if (s.last_scan) {
    const ls = s.last_scan;
    parts.push(el("div", { class: "last-scan", "data-tone": scanTone(ls), title: scanDetail(ls) },
      el("b", { text: t("result")[ls.result] || ls.result }), ` ${ls.label}`));
  }
  if (s.error) parts.push(el("div", { class: "last-scan", "data-tone": "bad", text: `${t("stationError")}: ${s.error}` }));
  const refused = newerRefusal(s);
  if (refused) {
    parts.push(el("div", { class: "last-scan", "data-tone": "bad", title: refused.reason },
      el("b", { text: t("notSaved") }), ` ${refused.label}`));
  }
  parts.push(el("a", { class: "screen-link", href: `#station=${encodeURIComponent(s.station)}`, text: t("screenLink") }));
  if (s.spool_capacity) parts.push(el("div", { class: "line", text: `${t("spool")}: ${fmtNum(s.spool_depth)} / ${fmtNum(s.spool_capacity)}` }));
  const hours = state.hourly.get(s.station);
  if (hours && hours.some((h) => h.scans)) parts.push(sparkline(hours));
  if (s.devices.length) {
    parts.push(el("div", { class: "devices" }, ...s.devices.map((d) =>
      el("span", { class: `device ${d.state}`, title: d.detail || d.state, text: `${d.name} (${d.role})` }))));
  }
  node.body.replaceChildren(...parts);
  updatePointForm(node.form, s);
  return node.li;
}

// How a scan's result should look to the worker: fine, look again, or stop.
// The bridge's newest refused scan (not stored: scan it again), if it came after the last
// scan the services saw; otherwise the screen shows that scan.
function newerRefusal(s) {
  const r = s && s.refused;
  if (!r) return null;
  if (s.last_scan && new Date(s.last_scan.at) >= new Date(r.at)) return null;
  return r;
}

function scanTone(ls) {
  if (["wrong_container", "rejected"].includes(ls.result)) return "bad";
  if (ls.result === "duplicate" || ls.out_of_range) return "warn";
  return "ok";
}

function scanDetail(ls) {
  const bits = [];
  if (ls.weight_kg != null) bits.push(`${fmtNum(ls.weight_kg, 2)} kg`);
  if (ls.out_of_range) bits.push(t("outOfRange"));
  if (ls.reason) bits.push(ls.reason);
  if (ls.container_no && ls.result === "loaded") bits.push(`→ ${ls.container_no}`);
  bits.push(fmtTime(ls.at, true));
  return bits.join(" · ");
}

// A station's own screen (#station=load-1), for a tablet at the packing station: what the
// last scan meant, large, and how full the station's container is.
function screenStation() {
  return new URLSearchParams(location.hash.slice(1)).get("station");
}

function renderScreen() {
  const name = screenStation();
  document.body.classList.toggle("screen-mode", Boolean(name));
  $("screen").hidden = !name;
  if (!name) return;
  const s = state.stations.get(name);
  $("screen-station").textContent = name;
  $("screen-back").textContent = t("screenBack");
  const c = s && s.active_container ? state.containers.get(s.active_container) : null;
  $("screen-where").textContent = !s ? "" : s.mode === "receiving"
    ? `${t("mode").receiving} · ${t("supplier")}: ${s.supplier || t("none")}`
    : `${t("activeContainer")}: ${c ? c.container_no_formatted : t("none")}`;
  $("screen-fill").textContent = c ? `${fmtNum(c.drums)} / ${fmtNum(c.capacity_drums)} ${t("drumsUnit")} · ${pct(c.fill_ratio)}` : "";
  renderScale();
  const ls = s && s.last_scan;
  const refused = newerRefusal(s);
  if (refused) {
    $("screen-scan").dataset.tone = "bad";
    $("screen-result").textContent = t("notSaved");
    $("screen-label").textContent = refused.label;
    $("screen-detail").textContent = `${refused.reason} · ${fmtTime(refused.at, true)}`;
    return;
  }
  $("screen-scan").dataset.tone = ls ? scanTone(ls) : "none";
  $("screen-result").textContent = ls ? (t("result")[ls.result] || ls.result) : t("screenWaiting");
  $("screen-label").textContent = ls ? ls.label : (s && s.error ? `${t("stationError")}: ${s.error}` : "");
  $("screen-detail").textContent = ls ? scanDetail(ls) : "";
}

// What the station's scale shows now, on its screen (live readings, at most a few a second).
function renderScale() {
  const name = screenStation();
  const w = name ? state.weights.get(name) : null;
  const line = $("screen-scale");
  line.hidden = !w;
  if (!w) return;
  line.dataset.status = w.status;
  const kg = w.weight_kg == null ? "—" : `${fmtNum(w.weight_kg, 2)} kg`;
  line.textContent = `${t("scale")}: ${kg} · ${t("scaleStatus")[w.status] || w.status}`;
}

function refreshPointForms() {
  for (const [name, node] of state.stationNodes) {
    const s = state.stations.get(name);
    if (s) updatePointForm(node.form, s);
  }
}

function pointForm(station) {
  const id = `point-${station}`;
  const label = el("label", { for: id });
  const select = el("select", { id, name: "container_no" });
  const button = el("button", { type: "submit" });
  const form = el("form", { class: "point" }, label, el("div", { class: "row" }, select, button));
  const f = { form, label, select, button, station, key: "" };
  // A choice not yet applied survives the station's updates.
  select.addEventListener("change", () => { form.dataset.dirty = "1"; });
  form.addEventListener("submit", (e) => { e.preventDefault(); pointStation(f); });
  return f;
}

function updatePointForm(f, s) {
  f.form.hidden = s.mode === "receiving";
  f.label.textContent = t("pointLabel");
  f.button.textContent = t("pointSet");
  f.button.setAttribute("aria-label", `${t("pointSet")}: ${s.station}`);
  const choices = [...state.containers.values()]
    .filter((c) => c.status === "open" || c.status === "loading" || c.container_no === s.active_container)
    .sort((a, b) => a.container_no.localeCompare(b.container_no));
  // Someone else pointed the station (a label scanned, another screen): show that instead.
  if (f.active !== undefined && f.active !== s.active_container && document.activeElement !== f.select) {
    delete f.form.dataset.dirty;
  }
  f.active = s.active_container;
  const want = f.form.dataset.dirty ? f.select.value : (s.active_container || "");
  const key = `${state.lang}|${choices.map((c) => `${c.container_no}:${c.status}`).join(",")}`;
  if (key !== f.key) {
    f.key = key;
    f.select.replaceChildren(el("option", { value: "", text: t("pointNone") }), ...choices.map((c) =>
      el("option", {
        value: c.container_no,
        // Open and loading ones are all loadable; the current one may be full by now: say so.
        text: c.status === "open" || c.status === "loading"
          ? c.container_no_formatted : `${c.container_no_formatted} (${t("status")[c.status] || c.status})`,
      })));
  }
  if (f.select.value !== want) f.select.value = want;
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
    state.weights = new Map((s.weights || []).map((w) => [w.station, w]));
    setLive("on");
    renderAll();
  });
  es.addEventListener("container", (e) => {
    const c = JSON.parse(e.data);
    if (c.removed) state.containers.delete(c.container_no); else state.containers.set(c.container_no, c);
    renderContainers();
    refreshPointForms(); // the containers a station may be pointed at
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
  es.addEventListener("weight", (e) => {
    const w = JSON.parse(e.data);
    state.weights.set(w.station, w);
    if (screenStation() === w.station) renderScale();
  });
}

// -- actions --------------------------------------------------------------------------------
function toast(text, bad = false) {
  const n = $("toast");
  n.textContent = text;
  n.classList.toggle("bad", bad);
  n.setAttribute("role", bad ? "alert" : "status");
  n.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { n.hidden = true; }, bad ? 8000 : 4000);
}

// An API refusal in words: what the status means, then the API's own message.
function refusal(code, detail) {
  const said = Array.isArray(detail)
    ? detail.map((d) => String((d && d.msg) || d).replace(/^Value error, /, "")).join("; ")
    : String(detail || "");
  const why = t("refused")[code] || t("failed");
  return `${why}${said ? `: ${said}` : ""} (${code})`;
}

// Call the API with the page's token; resolves to the JSON answer, rejects with a message
// fit to show.
async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let r;
  try {
    r = await fetch(`${API}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new Error(t("unreachable"));
  }
  let data = null;
  try { data = await r.json(); } catch { /* not JSON: the status says enough */ }
  if (!r.ok) throw new Error(refusal(r.status, data && data.detail));
  return data;
}

// A container as the API answered an action: shown at once, unless the stream already
// brought a newer state.
function applyContainer(c) {
  if (!c || !c.container_no) return;
  const had = state.containers.get(c.container_no);
  if (had && had.updated_at && c.updated_at && had.updated_at > c.updated_at) return;
  state.containers.set(c.container_no, c);
  renderContainers();
  refreshPointForms();
}

async function acknowledge(id, button) {
  button.disabled = true;
  try {
    const body = await call("POST", `/alerts/${encodeURIComponent(id)}/ack`);
    if (body.state === "cleared") state.alerts.delete(id); else state.alerts.set(id, body);
    renderAlerts();
    toast(t("ackDone"));
  } catch (err) {
    button.disabled = false;
    toast(`${t("ackFailed")}: ${err.message}`, true);
  }
}

// -- open a container (supervisors) -----------------------------------------------------------
function showOpenForm(show) {
  $("open-form").hidden = !show;
  $("open-toggle").setAttribute("aria-expanded", String(show));
  if (show) {
    $("open-error").textContent = "";
    $("open-no").removeAttribute("aria-invalid");
    $("open-no").focus();
  }
}

async function openContainer() {
  const number = $("open-no").value.trim().toUpperCase();
  const body = { container_no: number, container_type: $("open-type").value };
  const cap = $("open-cap").value.trim();
  if (cap) body.capacity_drums = Number(cap);
  $("open-submit").disabled = true;
  $("open-error").textContent = "";
  $("open-no").removeAttribute("aria-invalid");
  try {
    const c = await call("POST", "/containers", body);
    applyContainer(c);
    $("open-form").reset();
    showOpenForm(false);
    $("open-toggle").focus();
    toast(`${t("opened")}: ${c.container_no_formatted}`);
  } catch (err) {
    $("open-error").textContent = err.message;
    $("open-no").setAttribute("aria-invalid", "true");
    $("open-no").focus();
  } finally {
    $("open-submit").disabled = false;
  }
}

// -- the dialog: seal, ship, unload -----------------------------------------------------------
// ask({title, text, fields: [{name, label, required, maxlength}], ok, danger, run}): run gets
// the fields' values; the dialog stays open with the API's message when it is refused.
function ask({ title, text, fields = [], ok, danger = false, run }) {
  const dlg = $("dlg");
  $("dlg-title").textContent = title;
  $("dlg-text").textContent = text;
  $("dlg-error").textContent = "";
  $("dlg-cancel").textContent = t("cancel");
  $("dlg-ok").textContent = ok;
  $("dlg-ok").classList.toggle("danger", danger);
  $("dlg-ok").disabled = false;
  const inputs = fields.map((f) => {
    const input = f.options
      ? el("select", { id: `dlg-${f.name}`, name: f.name },
        ...f.options.map(([value, text]) => el("option", { value, text })))
      : el("input", { id: `dlg-${f.name}`, name: f.name, spellcheck: "false", autocomplete: "off" });
    if (f.required) input.required = true;
    if (f.maxlength) input.maxLength = f.maxlength;
    if (f.value !== undefined) input.value = f.value;
    return { f, input };
  });
  $("dlg-fields").replaceChildren(...inputs.map(({ f, input }) =>
    el("div", { class: "field" }, el("label", { for: input.id, text: f.label }), input)));
  $("dlg-form").onsubmit = async (e) => {
    e.preventDefault();
    const values = Object.fromEntries(inputs.map(({ f, input }) => [f.name, input.value.trim()]));
    $("dlg-ok").disabled = true;
    $("dlg-error").textContent = "";
    try {
      await run(values);
      dlg.close();
    } catch (err) {
      $("dlg-error").textContent = err.message;
      $("dlg-ok").disabled = false;
      if (!dlg.open) { toast(err.message, true); return; } // closed meanwhile: still say it
      (inputs[0] ? inputs[0].input : $("dlg-ok")).focus();
    }
  };
  dlg.returnFocus = document.activeElement;
  dlg.showModal();
  (inputs[0] ? inputs[0].input : $("dlg-cancel")).focus(); // an irreversible action: not on "yes"
}

function askSeal(c) {
  ask({
    title: `${t("sealTitle")}: ${c.container_no_formatted}`,
    text: t("sealText"),
    fields: [{ name: "seal_no", label: t("sealNo"), required: true, maxlength: 32 }],
    ok: t("sealAction"),
    run: async ({ seal_no: sealNo }) => {
      applyContainer(await call("POST", `/containers/${c.container_no}/seal`, { seal_no: sealNo }));
      toast(`${t("sealed")}: ${c.container_no_formatted} · ${sealNo}`);
    },
  });
}

function askShip(c) {
  ask({
    title: `${t("shipTitle")}: ${c.container_no_formatted}`,
    text: `${c.seal_no ? `${t("seal")} ${c.seal_no} · ` : ""}${fmtNum(c.drums)} ${t("drumsUnit")}. ${t("shipText")}`,
    ok: t("shipOk"),
    danger: true,
    run: async () => {
      applyContainer(await call("POST", `/containers/${c.container_no}/ship`));
      toast(`${t("shipped")}: ${c.container_no_formatted}`);
    },
  });
}

function askUnload(c) {
  ask({
    title: `${t("unloadTitle")}: ${c.container_no_formatted}`,
    text: t("unloadText"),
    fields: [
      { name: "drum", label: t("drumLabel"), required: true, maxlength: 200 },
      { name: "reason", label: t("reason"), required: true, maxlength: 200 },
    ],
    ok: t("unloadOk"),
    run: async ({ drum, reason }) => {
      applyContainer(await call("POST", `/containers/${c.container_no}/unload`, { drum, reason }));
      toast(`${t("unloaded")}: ${drum} ← ${c.container_no_formatted}`);
    },
  });
}

function askMode(s) {
  ask({
    title: `${t("modeTitle")}: ${s.station}`,
    text: t("modeText"),
    fields: [
      { name: "mode", label: t("modeLabel"), value: s.mode === "receiving" ? "receiving" : "loading",
        options: ["loading", "receiving"].map((m) => [m, t("mode")[m]]) },
      { name: "supplier", label: t("supplierLabel"), value: s.supplier || "", maxlength: 64 },
    ],
    ok: t("modeOk"),
    run: async ({ mode, supplier }) => {
      // Receiving: the supplier as typed ("" clears it); loading has none.
      const body = mode === "receiving" ? { mode, supplier } : { mode };
      const now = await call("PUT", `/stations/${encodeURIComponent(s.station)}/mode`, body);
      state.stations.set(now.station, { ...(state.stations.get(now.station) || {}), ...now });
      renderStations();
      toast(`${t("modeChanged")}: ${s.station} → ${t("mode")[mode]}`);
    },
  });
}

// -- point a station at a container (workers too) ---------------------------------------------
async function pointStation(f) {
  const number = f.select.value || null;
  f.button.disabled = true;
  try {
    const s = await call("PUT", `/stations/${encodeURIComponent(f.station)}/container`, { container_no: number });
    delete f.form.dataset.dirty;
    const had = state.stations.get(s.station);
    if (!had || s.scans >= had.scans) state.stations.set(s.station, s);
    renderStations();
    const c = number && state.containers.get(number);
    toast(`${t("pointed")}: ${f.station} → ${c ? c.container_no_formatted : t("none")}`);
  } catch (err) {
    toast(`${t("pointFailed")} ${f.station}: ${err.message}`, true);
  } finally {
    f.button.disabled = false;
  }
}

function showLogin(message = "") {
  if (state.source) { state.source.close(); state.source = null; }
  $("main").hidden = true;
  $("sign-out").hidden = true;
  $("who").textContent = "";
  $("login").hidden = false;
  $("open-toggle").hidden = true;
  showOpenForm(false);
  if ($("dlg").open) $("dlg").close();
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
  $("open-toggle").hidden = !canSupervise(); // the API refuses it to workers anyway (403)
  renderAll();
  connect();
  loadHourly();
}

function tick() {
  if (!state.site && !$("clock").textContent) return;
  const opts = { timeZone: zone(), weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };
  $("clock").textContent = `${new Intl.DateTimeFormat(locale(), opts).format(new Date())} ${zoneName()}`;
}

window.addEventListener("hashchange", renderScreen);

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
  $("open-toggle").addEventListener("click", () => showOpenForm($("open-form").hidden));
  const closeOpenForm = () => { $("open-form").reset(); showOpenForm(false); $("open-toggle").focus(); };
  $("open-cancel").addEventListener("click", closeOpenForm);
  $("open-form").addEventListener("submit", (e) => { e.preventDefault(); openContainer(); });
  $("open-form").addEventListener("keydown", (e) => { if (e.key === "Escape") closeOpenForm(); });
  $("dlg-cancel").addEventListener("click", () => $("dlg").close());
  $("dlg").addEventListener("close", () => {
    const back = $("dlg").returnFocus;
    if (back && back.isConnected) back.focus();
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
