/* The live stream (/api/v1/stream): a snapshot, then one event per change. */
import { refreshPointForms } from "./actions.js";
import { start } from "./app.js";
import { followRouting } from "./people.js";
import { renderAlerts, renderAll, renderContainers, renderStations, renderStock } from "./render.js";
import { renderScale, screenStation } from "./screen.js";
import { $, API, state, t } from "./state.js";

// -- live stream ----------------------------------------------------------------------------
export function setLive(s) {
  $("live").dataset.state = s;
  $("live-text").textContent = t(s === "on" ? "live" : s === "wait" ? "connecting" : "offline");
}

export function connect() {
  if (state.source) state.source.close();
  setLive("wait");
  const es = new EventSource(`${API}/stream?access_token=${encodeURIComponent(state.token)}`);
  state.source = es;
  es.addEventListener("open", () => setLive("on"));
  es.addEventListener("error", () => {
    setLive(es.readyState === EventSource.CLOSED ? "off" : "wait");
    if (es.readyState === EventSource.CLOSED) setTimeout(() => start(), 5000); // token revoked? ask again
  });
  es.addEventListener("revoked", () => {
    // The token was revoked while streaming: ask the API again, which signs this page out.
    es.close();
    state.source = null;
    start();
  });
  es.addEventListener("snapshot", (e) => {
    const s = JSON.parse(e.data);
    state.containers = new Map(s.containers.map((c) => [c.container_no, c]));
    state.stations = new Map(s.stations.map((x) => [x.station, x]));
    state.alerts = new Map(s.alerts.map((a) => [a.id, a]));
    state.stock = s.stock;
    state.weights = new Map((s.weights || []).map((w) => [w.station, w]));
    // The routing in force now: it may have changed since this page's GET /site.
    if (s.alert_list_kinds && state.site) state.site.alert_list_kinds = s.alert_list_kinds;
    // Likewise the SKU catalogue (the stock's names).
    if (s.skus && state.site) state.site.skus = s.skus;
    followRouting(); // an open People dialog: the routing may have changed while away
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
    renderStations(); // a station's card shows its scale alerts
  });
  es.addEventListener("alert_list_kinds", (e) => {
    // The admin changed the alert routing (on any dashboard): this list follows at once.
    if (state.site) state.site.alert_list_kinds = JSON.parse(e.data).alert_list_kinds;
    renderAlerts();
    followRouting(); // and an open People dialog's boxes (the webhooks' part may have changed)
  });
  es.addEventListener("skus", (e) => {
    // The admin changed the SKU catalogue: the stock's names follow (a stock event comes too).
    if (state.site) state.site.skus = JSON.parse(e.data).skus;
    renderStock();
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
