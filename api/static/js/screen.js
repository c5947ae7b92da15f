/* A station's own screen (#station=load-1): the last scan's result in large letters, the scale. */
import { fmtNum, fmtTime, pct } from "./format.js";
import { $, state, t } from "./state.js";

// The bridge's newest refused scan (not stored: scan it again), if it came after the last
// scan the services saw; otherwise the screen shows that scan.
export function newerRefusal(s) {
  const r = s && s.refused;
  if (!r) return null;
  if (s.last_scan && new Date(s.last_scan.at) >= new Date(r.at)) return null;
  return r;
}

// How a scan's result should look to the worker: fine, look again, or stop.
export function scanTone(ls) {
  if (["wrong_container", "rejected"].includes(ls.result)) return "bad";
  if (ls.result === "duplicate" || ls.out_of_range) return "warn";
  return "ok";
}

export function scanDetail(ls) {
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
export function screenStation() {
  return new URLSearchParams(location.hash.slice(1)).get("station");
}

export function renderScreen() {
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
export function renderScale() {
  const name = screenStation();
  const w = name ? state.weights.get(name) : null;
  const line = $("screen-scale");
  line.hidden = !w;
  if (!w) return;
  line.dataset.status = w.status;
  const kg = w.weight_kg == null ? "—" : `${fmtNum(w.weight_kg, 2)} kg`;
  line.textContent = `${t("scale")}: ${kg} · ${t("scaleStatus")[w.status] || w.status}`;
}
