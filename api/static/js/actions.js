/* What people do: calls to the API, the forms and the dialog (open, seal, ship, unload, mode, point). */
import { el, fmtNum, fmtTime } from "./format.js";
import { renderAlerts, renderContainers, renderStations } from "./render.js";
import { $, callApi, state, t } from "./state.js";

export function refreshPointForms() {
  for (const [name, node] of state.stationNodes) {
    const s = state.stations.get(name);
    if (s) updatePointForm(node.form, s);
  }
}

export function pointForm(station) {
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

export function updatePointForm(f, s) {
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


// -- actions --------------------------------------------------------------------------------
export function toast(text, bad = false) {
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
export function call(method, path, body) {
  return callApi(state.token, t("unreachable"), refusal, method, path, body);
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

export async function acknowledge(id, button) {
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

/** Acknowledge every alert of one kind raised now (POST /alerts/kinds/{kind}/ack): the
 * services act on what is open when the command runs, raised after this page drew the
 * button too; the answer says which, shown at once (the stream brings the same). */
export async function acknowledgeKind(kind, button) {
  button.disabled = true;
  try {
    const body = await call("POST", `/alerts/kinds/${encodeURIComponent(kind)}/ack`);
    const cleared = new Set(body.cleared);
    for (const id of body.acknowledged) {
      const a = state.alerts.get(id);
      if (cleared.has(id)) state.alerts.delete(id);
      // Still raised here: the stream has not brought the acknowledgement yet.
      else if (a && a.state === "raised") state.alerts.set(id, { ...a, state: "acknowledged", acknowledged_by: body.acknowledged_by, acknowledged_at: body.acknowledged_at });
    }
    state.ackedKind = { kind, n: body.acknowledged.length, at: body.acknowledged_at };
    renderAlerts();
    toast(ackedKindText());
  } catch (err) {
    button.disabled = false;
    toast(`${t("ackFailed")}: ${err.message}`, true);
  }
}

/** The last "acknowledge all" of this page in words: how many, of which kind, when. */
export function ackedKindText() {
  const done = state.ackedKind;
  if (!done) return "";
  return t(done.n ? "ackKindDone" : "ackKindNone").replace("{kind}", t("kinds")[done.kind] || done.kind)
    .replace("{n}", fmtNum(done.n)).replace("{at}", fmtTime(done.at));
}

// -- open a container (supervisors) -----------------------------------------------------------
export function showOpenForm(show) {
  $("open-form").hidden = !show;
  $("open-toggle").setAttribute("aria-expanded", String(show));
  if (show) {
    $("open-error").textContent = "";
    $("open-no").removeAttribute("aria-invalid");
    $("open-no").focus();
  }
}

export async function openContainer() {
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
export function ask({ title, text, fields = [], ok, danger = false, run }) {
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
      : el("input", { id: `dlg-${f.name}`, name: f.name, type: f.type || "text", spellcheck: "false", autocomplete: "off" });
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

export function askSeal(c) {
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

export function askShip(c) {
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

export function askUnload(c) {
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

export function askMode(s) {
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
