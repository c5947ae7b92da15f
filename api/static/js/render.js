/* Rendering the dashboard from the state: container cards, alerts, stock, stations. */
import { acknowledge, acknowledgeKind, ackedKindText, askMode, askSeal, askShip, askUnload, pointForm, updatePointForm } from "./actions.js";
import { el, fmtNum, fmtRelative, fmtTime, pct } from "./format.js";
import { renderPapers } from "./papers.js";
import { phoneLinks } from "./phones.js";
import { newerRefusal, renderScreen, scanDetail, scanTone } from "./screen.js";
import { $, API, canSupervise, state, t } from "./state.js";
import { setLive } from "./stream.js";

// A forecast closer than this is shown as urgent: time to bring the next container.
const SOON_MS = 60 * 60 * 1000;
// The stations' "drums per hour" bars: this many hours back, refreshed this often.
const HOURLY_HOURS = 12;
export const HOURLY_REFRESH_MS = 60 * 1000;
const TIMELINE_REFRESH_MS = 60 * 1000; // a card's fill timeline: refreshed this often,
const TIMELINE_CHANGED_MS = 5 * 1000; // or this soon after its drum count changed
const TIMELINE_POINTS = 60; // buckets across the time since the container was opened

// -- rendering ------------------------------------------------------------------------------
export function applyWords() {
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
  renderPapers(card, c);
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
export function renderContainers() {
  const cutoff = Date.now() - SHIPPED_SHOWN_MS;
  const gone = (c) => c.status === "shipped" && new Date(c.updated_at || 0).getTime() < cutoff;
  // A cancelled container was opened by mistake: nothing to show (the audit keeps it).
  const all = [...state.containers.values()].filter((c) => c.status !== "cancelled");
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
export function renderAlerts() {
  // alerts.dashboard_kinds: the kinds this list shows (empty: all); the rest are in the history.
  const shown = (state.site && state.site.alert_list_kinds) || [];
  const list = [...state.alerts.values()].filter((a) => a.state !== "cleared" && (!shown.length || shown.includes(a.kind))).sort((a, b) =>
    (SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]) || b.raised_at.localeCompare(a.raised_at));
  const items = list.map((a) => {
    const li = el("li", { class: `alert ${a.severity} ${a.state}`, "data-alert": a.id },
      el("span", { class: "sev" }));
    const body = el("div", {},
      el("div", { class: "what", text: t("kinds")[a.kind] || a.kind }),
      el("div", { class: "msg", text: a.message || a.subject }));
    const count = (a.data && a.data.count) || 1;
    if (count > 1) body.firstChild.append(el("span", { class: "tally", "data-count": String(count), text: ` ×${count}` }));
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
  renderAckKinds(list);
  $("alerts-empty").hidden = list.length > 0;
  const raised = list.filter((a) => a.state === "raised").length;
  $("alert-count").textContent = String(list.length);
  $("alert-count").classList.toggle("hot", raised > 0);
  document.title = raised ? `(${raised}) Gudang` : "Gudang";
}

/** Supervisors: one button per kind with two or more raised alerts, acknowledging them all. */
function renderAckKinds(list) {
  const counts = new Map();
  for (const a of list) if (a.state === "raised") counts.set(a.kind, (counts.get(a.kind) || 0) + 1);
  const buttons = canSupervise() ? [...counts].filter(([, n]) => n > 1).map(([kind, n]) => {
    const b = el("button", { type: "button", class: "ghost ack-kind", "data-ack-kind": kind, text: `${t("ackAll")}: ${t("kinds")[kind] || kind} (${n})` });
    b.addEventListener("click", () => acknowledgeKind(kind, b));
    return b;
  }) : [];
  $("alert-kinds").replaceChildren(...buttons);
  // What this page's last "acknowledge all" did, in the language shown now.
  const done = $("alert-kinds-done");
  done.hidden = !state.ackedKind;
  done.textContent = ackedKindText();
  done.dataset.acked = state.ackedKind ? String(state.ackedKind.n) : "";
}

export function renderStock() {
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

export function renderStations() {
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
      : s.mode === "counting"
      ? el("div", { class: "line" }, `${t("mode")[s.mode]} · `, el("b", { class: "stocktake", text: s.stocktake || "" }))
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
  for (const a of scaleAlerts(s.station)) {
    parts.push(el("div", { class: "last-scan scale-alert", "data-tone": "warn", "data-alert": a.id, title: a.message },
      el("b", { text: t("kinds")[a.kind] || a.kind }), ` ${a.message}`));
  }
  const refused = newerRefusal(s);
  if (refused) {
    parts.push(el("div", { class: "last-scan", "data-tone": "bad", title: refused.reason },
      el("b", { text: t("notSaved") }), ` ${refused.label}`));
  }
  parts.push(el("a", { class: "screen-link", href: `#station=${encodeURIComponent(s.station)}`, text: t("screenLink") }));
  parts.push(el("div", { class: "line phones" }, ...phoneLinks(s.station, canSupervise())));
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

// The station's open scale alerts (its zero drifting, never settling, in error): fixed at
// the station itself, so its card says so, not only the alert list.
const SCALE_ALERTS = new Set(["scale_drift", "scale_unstable", "scale_error"]);
function scaleAlerts(station) {
  return [...state.alerts.values()].filter((a) =>
    a.station === station && SCALE_ALERTS.has(a.kind) && a.state !== "cleared");
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

export async function loadHourly() {
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

export function renderAll() {
  applyWords();
  renderContainers();
  renderAlerts();
  renderStock();
  renderStations();
}
