/* What the page knows: the token, the language, the live state from the stream; the word lookup. */

// The words in Indonesian and English are data (words.json): a key missing in one
// language falls back to English. Every module that shows words waits for them here.
const WORDS = await (await fetch(new URL("words.json", import.meta.url))).json();

export const API = "/api/v1";
export const TOKEN_KEY = "gudang.token";
export const LANG_KEY = "gudang.lang";

export const state = {
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
  cued: new Map(), // station -> the result its screen last sounded (cues.js)
  source: null,
};

export const $ = (id) => document.getElementById(id);
export const t = (key) => WORDS[state.lang][key] ?? WORDS.en[key] ?? key;
export const canSupervise = () => state.site && ["supervisor", "admin"].includes(state.site.me.role);
