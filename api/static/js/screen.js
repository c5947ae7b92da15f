/* A station's own screen (#station=load-1): the last scan's result in large letters, heard
 * and flashed (cues.js), the scale, and plain words when the station cannot store scans. */
import { cue, kindOf, updateSoundNote } from "./cues.js";
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
    : s.mode === "counting" ? `${t("mode").counting} · ${s.stocktake || ""}`
    : `${t("activeContainer")}: ${c ? c.container_no_formatted : t("none")}`;
  $("screen-fill").textContent = c ? `${fmtNum(c.drums)} / ${fmtNum(c.capacity_drums)} ${t("drumsUnit")} · ${pct(c.fill_ratio)}` : "";
  renderScale();
  renderAlarm(s);
  const ls = s && s.last_scan;
  const refused = newerRefusal(s);
  cueResult(name, s, ls, refused);
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
  const noWeight = kindOf(ls, hasScale(s)) === "no_weight";
  $("screen-detail").textContent = ls ? (noWeight ? `${t("noWeight")} · ` : "") + scanDetail(ls) : "";
}

function hasScale(s) {
  return Boolean(s && (s.devices || []).some((d) => d.role === "scale"));
}

// The worker hears and sees each new result once: the one on screen when it opens is not
// played again, nor is a result re-rendered by another update.
function cueResult(name, s, ls, refused) {
  if (!s) return;
  const now = {
    scan: ls ? `${ls.at}|${ls.label}|${ls.result}` : "",
    refused: refused ? `${refused.at}|${refused.label}` : "",
  };
  const heard = state.cued.get(name);
  state.cued.set(name, now);
  if (heard === undefined) return; // the screen just opened on these
  if (now.refused && now.refused !== heard.refused) cue("not_saved", $("screen-scan"));
  else if (now.scan && now.scan !== heard.scan) cue(kindOf(ls, hasScale(s)), $("screen-scan"));
}

// Plain words when the station cannot store scans: the bridge's own fault (its spool
// failing), a scan it refused, or a full spool.
function renderAlarm(s) {
  const full = s && s.spool_capacity > 0 && s.spool_depth >= s.spool_capacity;
  const refused = newerRefusal(s);
  const why = s ? s.error || (refused && refused.reason) || (full ? t("spoolFull") : "") : "";
  $("screen-alarm").hidden = !why;
  $("screen-alarm-words").textContent = why ? t("cannotStore") : "";
  $("screen-alarm-detail").textContent = why;
  updateSoundNote();
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
