/* Formatting: elements, times in the site's zone, numbers in the page's language. */
import { state, t } from "./state.js";

// Short names people use for Indonesia's zones; Intl gives "GMT+7" in English.
const ZONE_NAMES = { "Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT" };

export function el(tag, attrs = {}, ...children) {
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
export function zone() { return (state.site && state.site.timezone) || "Asia/Jakarta"; }
export function locale() { return state.lang === "id" ? "id-ID" : "en-GB"; }
export function zoneName() { return ZONE_NAMES[zone()] || zone(); }
export function fmtTime(iso, withDate = false) {
  if (!iso) return t("none");
  const d = new Date(iso);
  const opts = { timeZone: zone(), hour: "2-digit", minute: "2-digit", hour12: false };
  if (withDate) Object.assign(opts, { day: "numeric", month: "short" });
  return `${new Intl.DateTimeFormat(locale(), opts).format(d)} ${zoneName()}`;
}
export function fmtRelative(iso) {
  const ms = new Date(iso).getTime() - Date.now();
  const mins = Math.round(Math.abs(ms) / 60000);
  const h = state.lang === "id" ? "j" : "h";
  const text = mins < 60 ? `${mins} m` : `${Math.floor(mins / 60)} ${h} ${mins % 60} m`;
  return ms >= 0 ? `${text} ${t("inTime")}` : `${text} ${t("ago")}`;
}
export function fmtNum(n, digits = 0) {
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(n);
}
export function pct(ratio) { return `${fmtNum(Math.min(ratio, 9.99) * 100, ratio < 0.1 ? 1 : 0)}%`; }
