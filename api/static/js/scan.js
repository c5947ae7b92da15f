/* Gudang: a phone is a station's scanner (scan.html#station=load-1).
 * The camera decodes labels (the browser's BarcodeDetector, else the vendored ZXing-C++
 * polyfill, served by the API itself); each scan goes first into IndexedDB, then to
 * POST /api/v1/stations/{station}/scans, oldest first, and leaves IndexedDB only once the
 * API says it is stored. A resend carries the same id: it is counted once.
 */

import { cue, kindOf } from "./cues.js";

const API = "/api/v1";
const TOKEN_KEY = "gudang.token"; // the dashboard's sign-in, when the phone has one
const SCAN_TOKEN_KEY = "gudang.scanToken"; // a phone's own token from a supervisor's QR code
const LANG_KEY = "gudang.lang";
// Both below resolve against the page (scan.html), not this module in js/.
const POLYFILL = "vendor/barcode-detector/polyfill.js";
const WASM = "vendor/barcode-detector/zxing_reader.wasm";
const FORMATS = ["code_128", "ean_13", "ean_8", "upc_a", "upc_e", "data_matrix", "qr_code"];
// A camera frame is decoded this often: labels are held still, and a phone's CPU is shared.
const DETECT_EVERY_MS = 150;
// A label in view is one scan. It counts again only after it was out of view for this
// long and this many decoded frames in a row (a blurred frame alone does not count).
const GONE_MS = 800;
const GONE_FRAMES = 2;
// Longer than the API's own wait for the receipt (api.scan_receipt_timeout_s, 10 s).
const SEND_TIMEOUT_MS = 30_000;
// Unreachable or not yet stored: try again after this, doubling up to the maximum.
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 8_000;
const RECENT = 8; // stored scans listed under the result, newest first

// The dashboard's words (data: words.json): the phone says what the station screen says.
const WORDS = await (await fetch(new URL("words.json", import.meta.url))).json();

const $ = (id) => document.getElementById(id);
let lang = localStorage.getItem(LANG_KEY) === "en" ? "en" : "id";
const t = (key) => WORDS[lang][key] ?? WORDS.en[key] ?? key;

const page = {
  station: null,
  token: null,
  shown: null, // the result on screen, re-rendered on a language switch
};

// -- the queue: IndexedDB, oldest first ----------------------------------------------------------
const DB_NAME = "gudang-scan";
const STORE = "queue";

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "seq", autoIncrement: true });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

const dbReady = openDb();

async function inStore(mode, work) {
  const db = await dbReady;
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const result = work(tx.objectStore(STORE));
    // Resolved once the transaction is durable, not when the request is merely queued.
    tx.oncomplete = () => resolve(result.result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

const queue = {
  add: (entry) => inStore("readwrite", (s) => s.add(entry)),
  remove: (seq) => inStore("readwrite", (s) => s.delete(seq)),
  count: () => inStore("readonly", (s) => s.count()),
  async first() {
    const db = await dbReady;
    return new Promise((resolve, reject) => {
      const req = db.transaction(STORE, "readonly").objectStore(STORE).openCursor();
      req.onsuccess = () => resolve(req.result ? req.result.value : null);
      req.onerror = () => reject(req.error);
    });
  },
};

function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

async function showWaiting() {
  const n = await queue.count();
  const w = $("waiting");
  w.dataset.count = String(n);
  w.hidden = n === 0;
  w.textContent = `${n} ${t("scanWaiting")}`;
}

// A scan is kept before anything else happens to it: a phone locked or out of range loses nothing.
async function scan(barcode, symbology = null) {
  const entry = { id: newId(), ts: new Date().toISOString(), station: page.station, barcode, symbology };
  await queue.add(entry);
  show({ tone: "wait", word: t("scanSent"), label: barcode, detail: "" });
  await showWaiting();
  pump();
}

// -- sending, in order, one at a time --------------------------------------------------------------
let pumping = false;
let again = false;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function send(entry) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), SEND_TIMEOUT_MS);
  try {
    const body = { id: entry.id, ts: entry.ts, barcode: entry.barcode, symbology: entry.symbology };
    const r = await fetch(`${API}/stations/${encodeURIComponent(entry.station)}/scans`, {
      method: "POST",
      headers: { Authorization: `Bearer ${page.token}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
      signal: ctl.signal,
    });
    let data = null;
    try { data = await r.json(); } catch { /* not JSON: the status says enough */ }
    return { status: r.status, data };
  } finally {
    clearTimeout(timer);
  }
}

async function pump() {
  if (pumping) { again = true; return; }
  pumping = true;
  let wait = RETRY_MIN_MS;
  try {
    for (;;) {
      const entry = await queue.first();
      if (!entry) {
        if (!again) break;
        again = false;
        continue;
      }
      if (!page.token) break; // sent once signed in
      let r;
      try {
        r = await send(entry);
      } catch {
        r = { status: 0, data: null }; // unreachable, or no answer in time
      }
      setNet(r.status === 0 ? "off" : "on");
      if (r.status === 200) {
        await queue.remove(entry.seq);
        await showWaiting();
        showStored(entry, r.data);
        wait = RETRY_MIN_MS;
      } else if (r.status === 401 || r.status === 403) {
        signedOut(r.data && r.data.detail);
        break;
      } else if ([400, 404, 409, 422].includes(r.status)) {
        // Never storable as it is: said to the worker, not resent forever.
        await queue.remove(entry.seq);
        await showWaiting();
        const view = { tone: "bad", word: t("scanRefusedScan"), label: entry.barcode, detail: detailOf(r.data) };
        show(view, "rejected");
        remember({ ...view, result: "refused", id: entry.id });
      } else {
        // 0 unreachable, 202 not stored yet, 429/5xx: the same id again, later.
        if (r.status === 202) setNet("on");
        await sleep(wait);
        wait = Math.min(wait * 2, RETRY_MAX_MS);
      }
    }
  } finally {
    pumping = false;
  }
}

function detailOf(data) {
  const d = data && data.detail;
  if (!d) return "";
  return typeof d === "string" ? d : d.map((x) => x.msg).join("; ");
}

function setNet(state) {
  const net = $("net");
  net.dataset.state = state;
  $("net-text").textContent = state === "off" ? t("scanOffline") : state === "on" ? t("scanOnline") : "";
}

// -- what the worker sees and hears ---------------------------------------------------------------
function toneOf(result) {
  if (["wrong_container", "rejected"].includes(result)) return "bad";
  if (result === "duplicate" || result === "quarantined" || !result) return "warn";
  return "ok";
}

function showStored(entry, out) {
  const result = out && out.result;
  const bits = [];
  if (out && out.weight_kg != null) bits.push(`${out.weight_kg.toLocaleString(lang === "id" ? "id-ID" : "en-GB")} kg`);
  if (out && out.reason) bits.push(out.reason);
  if (out && out.container_no && result === "loaded") bits.push(`→ ${out.container_no}`);
  const word = result === "quarantined" ? t("scanQuarantined") : (t("result")[result] || result || t("scanStored"));
  const tone = toneOf(result);
  // Weighed by the station's bridge yet no weight: it found no stable one (as on its screen).
  const kind = result === "quarantined" ? "rejected" : kindOf(out, out && out.via === "bridge");
  show({ tone, word, label: entry.barcode, detail: bits.join(" · "), result }, kind || "info");
  remember({ tone, word, label: entry.barcode, detail: bits.join(" · "), result: result || "", id: entry.id });
}

// The last few scans, so a worker sees what went before without looking away for long.
function remember(item) {
  const li = document.createElement("li");
  li.dataset.tone = item.tone;
  li.dataset.result = item.result;
  li.dataset.label = item.label;
  li.dataset.id = item.id;
  const what = document.createElement("span");
  what.className = "what";
  what.textContent = item.word;
  const code = document.createElement("span");
  code.className = "code";
  code.textContent = item.label;
  const detail = document.createElement("span");
  detail.className = "sub";
  detail.textContent = item.detail;
  li.append(what, code, detail);
  const list = $("recent");
  list.prepend(li);
  while (list.children.length > RECENT) list.lastElementChild.remove();
}

function show(view, kind = null) {
  page.shown = view;
  const box = $("result");
  box.dataset.tone = view.tone;
  box.dataset.result = view.result || "";
  $("result-word").textContent = view.word;
  $("result-label").textContent = view.label;
  $("result-detail").textContent = view.detail;
  if (kind) sound(kind, view.tone);
}

// The station screen's cues (js/cues.js): the same tune and flash for the same result, and a
// vibration by how it went.
const BUZZ = { ok: [80], warn: [80, 60, 80], bad: [400] };

function sound(kind, tone) {
  cue(kind, $("result"));
  if (navigator.vibrate) navigator.vibrate(BUZZ[tone] || BUZZ.ok);
}

// -- the camera ---------------------------------------------------------------------------------------
function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = src;
    s.onload = resolve;
    s.onerror = () => reject(new Error(`${src} did not load`));
    document.head.append(s);
  });
}

async function makeDetector() {
  if (!("BarcodeDetector" in window)) {
    await loadScript(POLYFILL);
    // The polyfill would fetch its WASM from a CDN; the warehouse LAN has none: ours.
    window.BarcodeDetectionAPI.prepareZXingModule({
      overrides: {
        locateFile: (path, prefix) => (path.endsWith(".wasm") ? new URL(WASM, location.href).href : prefix + path),
      },
    });
  }
  const supported = await window.BarcodeDetector.getSupportedFormats();
  return new window.BarcodeDetector({ formats: FORMATS.filter((f) => supported.includes(f)) });
}

function cameraNote(text) {
  const note = $("camera-note");
  note.hidden = !text;
  note.textContent = text || "";
}

async function startCamera() {
  if (!window.isSecureContext || !navigator.mediaDevices) {
    cameraNote(t("scanNeedHttps"));
    return;
  }
  let detector;
  try {
    detector = await makeDetector();
  } catch (err) {
    cameraNote(`${t("scanNoDetector")} (${err.message})`);
    return;
  }
  const video = $("camera");
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } },
      audio: false,
    });
    await video.play();
  } catch (err) {
    cameraNote(t("scanNoCamera") + err.message);
    return;
  }
  cameraNote("");
  const inView = new Map(); // label -> {seen: last time decoded, misses: frames without it}
  const pass = async () => {
    if (video.readyState >= 2) {
      let codes = [];
      try {
        codes = await detector.detect(video);
      } catch (err) {
        console.warn("detect failed", err);
      }
      const now = performance.now();
      const here = new Set(codes.map((c) => c.rawValue).filter(Boolean));
      for (const [label, v] of inView) {
        if (here.has(label)) continue;
        v.misses += 1;
        if (v.misses >= GONE_FRAMES && now - v.seen >= GONE_MS) inView.delete(label);
      }
      for (const label of here) {
        if (!inView.has(label)) scan(label);
        inView.set(label, { seen: now, misses: 0 });
      }
    }
    setTimeout(pass, DETECT_EVERY_MS);
  };
  pass();
}

// -- words, sign-in, start -----------------------------------------------------------------------------
function applyWords() {
  document.documentElement.lang = lang;
  document.title = `Gudang · ${t("scanTitle")} · ${page.station || ""}`;
  $("scan-token-label").textContent = t("scanTokenLabel");
  $("scan-login-go").textContent = t("scanSignIn");
  $("scan-login-hint").textContent = t("scanTokenHint");
  $("manual-label").textContent = t("scanManualLabel");
  $("manual-go").textContent = t("scanManualGo");
  for (const b of document.querySelectorAll(".lang button")) b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
  setNet($("net").dataset.state);
  if (!page.shown) show({ tone: "none", word: page.station ? t("scanReady") : "", label: "", detail: page.station ? t("scanCamera") : t("scanNoStation") });
  showWaiting();
}

function signedOut(detail) {
  localStorage.removeItem(SCAN_TOKEN_KEY);
  page.token = null;
  $("scan-login").hidden = false;
  show({ tone: "bad", word: t("scanBadToken"), label: "", detail: detail || "" }, "rejected");
}

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token) {
    // From a supervisor's QR code: kept on this phone, and out of the address bar.
    localStorage.setItem(SCAN_TOKEN_KEY, token);
    params.delete("token");
    history.replaceState(null, "", `${location.pathname}#${params}`);
  }
  page.station = params.get("station");
  page.token = localStorage.getItem(SCAN_TOKEN_KEY) || localStorage.getItem(TOKEN_KEY);
}

function main() {
  readHash();
  $("scan-station").textContent = page.station || "—";
  for (const b of document.querySelectorAll(".lang button")) {
    b.addEventListener("click", () => {
      lang = b.dataset.lang;
      localStorage.setItem(LANG_KEY, lang);
      applyWords();
    });
  }
  $("scan-login").hidden = Boolean(page.token);
  $("scan-login").addEventListener("submit", (e) => {
    e.preventDefault();
    const token = $("scan-token").value.trim();
    if (!token) return;
    localStorage.setItem(SCAN_TOKEN_KEY, token);
    page.token = token;
    $("scan-login").hidden = true;
    pump();
  });
  $("manual").addEventListener("submit", (e) => {
    e.preventDefault();
    const code = $("manual-code").value.trim();
    if (!code || !page.station) return;
    $("manual-code").value = "";
    scan(code);
  });
  window.addEventListener("online", () => pump());
  window.addEventListener("hashchange", () => location.reload());
  applyWords();
  if (page.station) startCamera();
  pump(); // what waited from an earlier visit
}

main();
