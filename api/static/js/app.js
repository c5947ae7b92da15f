/* Gudang dashboard: plain JavaScript in native ES modules, no build step, nothing from
 * the internet. This entry signs in and wires the page; state comes from the live stream
 * (stream.js), the words from words.js (data), the rest from its own module.
 */
import { openContainer, showOpenForm } from "./actions.js";
import { locale, zone, zoneName } from "./format.js";
import { applyWords, HOURLY_REFRESH_MS, loadHourly, renderAll, renderContainers } from "./render.js";
import { openPeople, showPeopleButton } from "./people.js";
import { renderScreen } from "./screen.js";
import { $, API, canSupervise, onLanguage, state, t, TOKEN_KEY } from "./state.js";
import { connect } from "./stream.js";

function showLogin(message = "") {
  if (state.source) { state.source.close(); state.source = null; }
  state.ackedKind = null;
  $("main").hidden = true;
  $("sign-out").hidden = true;
  $("who").textContent = "";
  $("login").hidden = false;
  $("open-toggle").hidden = true;
  $("people-open").hidden = true;
  if ($("people")) $("people").close();
  showOpenForm(false);
  if ($("dlg").open) $("dlg").close();
  $("login-error").textContent = message;
  $("token").focus();
}

export async function start() {
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
  showPeopleButton();
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

// Modules run once the page is parsed; the words (state.js) may arrive after
// DOMContentLoaded, so start at once when it has passed.
function init() {
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
  $("people-open").addEventListener("click", () => openPeople());
  const closeOpenForm = () => { $("open-form").reset(); showOpenForm(false); $("open-toggle").focus(); };
  $("open-cancel").addEventListener("click", closeOpenForm);
  $("open-form").addEventListener("submit", (e) => { e.preventDefault(); openContainer(); });
  $("open-form").addEventListener("keydown", (e) => { if (e.key === "Escape") closeOpenForm(); });
  $("dlg-cancel").addEventListener("click", () => $("dlg").close());
  $("dlg").addEventListener("close", () => {
    const back = $("dlg").returnFocus;
    if (back && back.isConnected) back.focus();
  });
  onLanguage(state, () => { renderAll(); tick(); });
  applyWords();
  $("clock").textContent = " ";
  tick();
  setInterval(tick, 1000);
  // Forecasts say "in 2 h 10 m": refresh them as time passes.
  setInterval(renderContainers, 30000);
  setInterval(loadHourly, HOURLY_REFRESH_MS);
  start();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
else init();
