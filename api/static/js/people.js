/* People, for the admin: make a token (name, role, optional station), shown once; list
 * every token (the configuration file's too) and revoke one made here (GET/POST/DELETE
 * /api/v1/tokens). A revoked token is refused at once and its live streams end.
 * Also the alert routing: which kinds reach the alert list and the webhooks (PUT
 * /api/v1/alerts/routing), live; an open dialog follows another admin's change (followRouting).
 */
import { el, fmtTime } from "./format.js";
import { renderAlerts } from "./render.js";
import { $, API, state, t } from "./state.js";

async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(`${API}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await r.json(); } catch { /* the status says enough */ }
  if (!r.ok) {
    const detail = data && data.detail;
    throw new Error(`${typeof detail === "string" ? detail : r.statusText} (${r.status})`);
  }
  return data;
}

/** Whether the signed-in token is the admin's (the API refuses the others anyway, 403). */
export const isAdmin = () => Boolean(state.site && state.site.me.role === "admin");

async function renderList(list, note) {
  let tokens = [];
  try {
    tokens = await call("GET", "/tokens");
  } catch (err) {
    note.textContent = `${t("peopleFailed")}: ${err.message}`;
    return;
  }
  list.replaceChildren(...tokens.map((x) => {
    const where = x.station ? ` · ${t("peopleAt")} ${x.station}` : "";
    const since = x.source === "dashboard" ? ` · ${fmtTime(x.issued_at, true)} · ${t("phoneBy")} ${x.issued_by}` : ` · ${t("peopleConfig")}`;
    const item = el("li", { "data-token": x.name, "data-source": x.source },
      el("span", { text: `${x.name} · ${x.role}${where}${since} ` }));
    if (x.source === "dashboard") {
      const revoke = el("button", { type: "button", class: "ghost", "data-revoke": x.name, text: t("phoneRevoke") });
      revoke.addEventListener("click", async () => {
        revoke.disabled = true;
        try {
          await call("DELETE", `/tokens/${encodeURIComponent(x.name)}`);
        } catch (err) {
          revoke.disabled = false;
          note.textContent = `${t("peopleFailed")}: ${err.message}`;
          return;
        }
        note.textContent = `${t("phoneRevoked")}: ${x.name}`;
        await renderList(list, note);
      });
      item.append(revoke);
    }
    return item;
  }));
}

// The open People dialog's routing section asks again for the routing in force (GET
// /alerts/routing) when the stream says it changed; null while no dialog is open.
let followOpenRouting = null;

/** The routing changed (the stream's alert_list_kinds, or a new snapshot): an open People
 * dialog follows it. Its boxes are ticked afresh unless the admin has ticked some that are
 * not saved: those are kept, and a note says the routing changed meanwhile. */
export function followRouting() {
  if (followOpenRouting) followOpenRouting();
}

const sameKinds = (a, b) => [...a].sort().join() === [...b].sort().join();
const sameRouting = (a, b) => sameKinds(a.dashboard_kinds, b.dashboard_kinds) && sameKinds(a.webhook_kinds, b.webhook_kinds);

/** The alert routing: a box per kind for the dashboard's list and for the webhooks. */
async function routingSection(note, dialog) {
  const section = el("section", { id: "routing" }, el("h4", { text: t("routingTitle") }),
    el("p", { class: "sub", text: t("routingHint") }));
  // Asked for again on every change the stream tells of; only the latest answer counts.
  let asked = 0;
  const ask = async () => {
    const n = ++asked;
    const r = await call("GET", "/alerts/routing");
    return n === asked ? r : null;
  };
  let now;
  let follow = null; // set once the boxes are there
  // Followed from before the first answer: a change told while it is on its way is asked
  // for again once the boxes are there.
  let missed = false;
  followOpenRouting = () => {
    if (!follow) { missed = true; return; }
    ask().then((r) => r && follow(r)).catch(() => { /* the next change asks again */ });
  };
  dialog.addEventListener("close", () => { followOpenRouting = null; });
  try {
    now = await call("GET", "/alerts/routing");
  } catch (err) {
    note.textContent = `${t("peopleFailed")}: ${err.message}`;
    return section;
  }
  const kinds = Object.keys(t("kinds"));
  const group = (where, title, ticked) => el("fieldset", { "data-routing": where },
    el("legend", { text: title }),
    ...kinds.map((k) => el("label", {},
      el("input", { type: "checkbox", value: k, ...(ticked.includes(k) ? { checked: "" } : {}) }),
      el("span", { text: ` ${t("kinds")[k]} ` }))));
  const dash = group("dashboard", t("routingDashboard"), now.dashboard_kinds);
  const hooks = group("webhooks", t("routingWebhooks"), now.webhook_kinds);
  const save = el("button", { type: "button", id: "routing-save", text: t("routingSave") });
  const ticked = (box) => [...box.querySelectorAll("input:checked")].map((i) => i.value);
  const mine = () => ({ dashboard_kinds: ticked(dash), webhook_kinds: ticked(hooks) });
  const tick = (r) => {
    for (const [box, list] of [[dash, r.dashboard_kinds], [hooks, r.webhook_kinds]]) {
      for (const i of box.querySelectorAll("input")) i.checked = list.includes(i.value);
    }
  };
  // What changed meanwhile, said where the boxes are; with a way to take the saved routing.
  const changed = el("p", { class: "sub", id: "routing-changed", role: "status" });
  const theirs = el("button", { type: "button", class: "ghost", id: "routing-theirs", text: t("routingTheirs") });
  const says = (key, r) => t(key).replace("{by}", r.set_by || t("peopleConfig")).replace("{at}", fmtTime(r.set_at, true));
  const quiet = () => { changed.hidden = true; changed.dataset.changed = ""; theirs.hidden = true; };
  quiet();
  // `now` is the routing the boxes were last set from (or saved to): ticks that differ
  // from it are the admin's edits, not saved.
  follow = (r) => {
    if (sameRouting(r, now)) return; // nothing new (the seed again, or this dialog's own save)
    const edited = !sameRouting(mine(), now);
    now = r;
    if (sameRouting(mine(), r)) { quiet(); return; } // already ticked as saved
    changed.hidden = false;
    if (edited) {
      // Not overwritten: the admin decides; Save routing then replaces theirs.
      changed.dataset.changed = "meanwhile";
      changed.textContent = says("routingMeanwhile", r);
      theirs.hidden = false;
    } else {
      tick(r);
      changed.dataset.changed = "followed";
      changed.textContent = says("routingFollowed", r);
      theirs.hidden = true;
    }
  };
  theirs.addEventListener("click", () => { tick(now); quiet(); });
  save.addEventListener("click", async () => {
    save.disabled = true;
    try {
      const done = await call("PUT", "/alerts/routing",
        { dashboard_kinds: ticked(dash), webhook_kinds: ticked(hooks) });
      // This dashboard's list at once; the others (and this one again) by the stream's
      // alert_list_kinds event.
      now = done;
      quiet();
      state.site.alert_list_kinds = done.dashboard_kinds;
      renderAlerts();
      note.textContent = t("routingSaved");
    } catch (err) {
      note.textContent = `${t("peopleFailed")}: ${err.message}`;
    } finally {
      save.disabled = false;
    }
  });
  section.append(dash, hooks, changed, theirs, save);
  if (missed) followRouting();
  return section;
}

/** The people dialog: a form to make a token, the token made (once), every token. */
export async function openPeople() {
  const dialog = el("dialog", { class: "phone-dialog", id: "people", "aria-labelledby": "people-title" });
  const name = el("input", { id: "people-name", required: "", pattern: "[a-z0-9][a-z0-9_.\\-]{0,47}", autocomplete: "off" });
  const role = el("select", { id: "people-role" },
    ...["worker", "supervisor", "admin"].map((r) => el("option", { value: r, text: r })));
  const station = el("input", { id: "people-station", autocomplete: "off", placeholder: t("peopleStationHint") });
  const make = el("button", { type: "submit", id: "people-make", text: t("peopleMake") });
  const form = el("form", { class: "inline-form", id: "people-form" },
    el("label", {}, el("span", { text: t("peopleName") }), name),
    el("label", {}, el("span", { text: t("peopleRole") }), role),
    el("label", {}, el("span", { text: t("peopleStation") }), station), make);
  const shown = el("code", { id: "people-token" });
  const note = el("p", { class: "sub", id: "people-note", "aria-live": "polite" });
  const list = el("ul", { class: "phone-list", id: "people-list" });
  const close = el("button", { type: "button", text: t("phoneClose") });
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    make.disabled = true;
    const body = { name: name.value.trim(), role: role.value };
    if (station.value.trim()) body.station = station.value.trim();
    try {
      const made = await call("POST", "/tokens", body);
      shown.textContent = made.token;
      note.textContent = t("peopleShownOnce");
      form.reset();
    } catch (err) {
      note.textContent = `${t("peopleFailed")}: ${err.message}`;
    } finally {
      make.disabled = false;
    }
    await renderList(list, note);
  });
  dialog.append(
    el("h3", { id: "people-title", text: t("peopleTitle") }), form, shown, note,
    el("h4", { text: t("peopleList") }), list,
  );
  document.body.append(dialog);
  dialog.showModal();
  await renderList(list, note);
  dialog.append(await routingSection(note, dialog), close);
}

/** Show the people button to the admin only. */
export function showPeopleButton() {
  $("people-open").hidden = !isAdmin();
}
