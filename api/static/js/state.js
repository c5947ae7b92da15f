/* What the page knows: the token, the language, the live state from the stream; the word lookup.
 * Also what the dashboard and the ops page share: calling the API, the language buttons. */

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
  ackedKind: null, // {kind, n, at}: this page's last "acknowledge all", shown above the list
  source: null,
};

export const $ = (id) => document.getElementById(id);
export const t = (key) => WORDS[state.lang][key] ?? WORDS.en[key] ?? key;
export const canSupervise = () => state.site && ["supervisor", "admin"].includes(state.site.me.role);

// Call the API with a token; resolves to the JSON answer, rejects with a message fit to
// show: `unreachable` without an answer, else what `refusal(status, detail)` makes of it.
export async function callApi(token, unreachable, refusal, method, path, body) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let r;
  try {
    r = await fetch(`${API}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new Error(unreachable);
  }
  let data = null;
  try { data = await r.json(); } catch { /* not JSON: the status says enough */ }
  if (!r.ok) throw new Error(refusal(r.status, data && data.detail));
  return data;
}

// The ID/EN buttons: the language chosen goes into `page.lang` and is kept for the next
// visit; `redraw` then says everything again in it.
export function onLanguage(page, redraw) {
  for (const b of document.querySelectorAll(".lang button")) {
    b.addEventListener("click", () => {
      page.lang = b.dataset.lang;
      localStorage.setItem(LANG_KEY, page.lang);
      redraw();
    });
  }
}
