/* Phones as scanners, from a station's card on the dashboard: the scanning page's link for
 * everyone, and for supervisors a QR code that signs a phone in to scan at that station
 * only (POST /stations/{s}/phone-tokens), with the station's phones and a revoke button.
 */
import { el, fmtTime } from "./format.js";
import { API, state, t } from "./state.js";

async function call(method, path) {
  const r = await fetch(`${API}${path}`, { method, headers: { Authorization: `Bearer ${state.token}` } });
  let data = null;
  try { data = await r.json(); } catch { /* the status says enough */ }
  if (!r.ok) throw new Error(`${(data && data.detail) || r.statusText} (${r.status})`);
  return data;
}

/** The links under a station's card: the scanning page, and the QR code for supervisors. */
export function phoneLinks(station, isSupervisor) {
  const links = [el("a", {
    class: "screen-link phone-link",
    href: `scan.html#station=${encodeURIComponent(station)}`,
    "data-phone-link": station,
    text: t("phoneScanLink"),
  })];
  if (isSupervisor) {
    const button = el("button", { type: "button", class: "ghost phone-qr", "data-phone-qr": station, text: t("phoneQr") });
    button.addEventListener("click", () => openPhoneQr(station));
    links.push(button);
  }
  return links;
}

async function renderPhones(list, station) {
  let tokens = [];
  try {
    tokens = (await call("GET", "/phone-tokens")).filter((x) => x.station === station);
  } catch (err) {
    list.replaceChildren(el("li", { class: "error", text: `${t("phoneFailed")}: ${err.message}` }));
    return;
  }
  if (!tokens.length) {
    list.replaceChildren(el("li", { class: "sub", text: t("phoneNone") }));
    return;
  }
  list.replaceChildren(...tokens.map((x) => {
    const revoke = el("button", { type: "button", class: "ghost", "data-revoke": x.name, text: t("phoneRevoke") });
    revoke.addEventListener("click", async () => {
      revoke.disabled = true;
      try {
        await call("DELETE", `/phone-tokens/${encodeURIComponent(x.name)}`);
      } catch (err) {
        revoke.disabled = false;
        revoke.textContent = `${t("phoneFailed")}: ${err.message}`;
        return;
      }
      await renderPhones(list, station);
    });
    return el("li", { "data-phone": x.name },
      el("span", { text: `${x.name} · ${t("phoneSince")} ${fmtTime(x.issued_at, true)} · ${t("phoneBy")} ${x.issued_by} ` }), revoke);
  }));
}

/** Make a phone token for the station and show its QR code, with the station's phones. */
export async function openPhoneQr(station) {
  const dialog = el("dialog", { class: "phone-dialog", id: "phone-qr", "aria-labelledby": "phone-qr-title" });
  const qr = el("div", { class: "phone-qr-code", id: "phone-qr-code" });
  const link = el("p", { class: "phone-qr-link sub" });
  const list = el("ul", { class: "phone-list", id: "phone-list" });
  const close = el("button", { type: "button", text: t("phoneClose") });
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  dialog.append(
    el("h3", { id: "phone-qr-title", text: `${t("phoneTitle")}: ${station}` }),
    el("p", { text: t("phoneHint") }), qr, link,
    el("h4", { text: t("phoneList") }), list, close,
  );
  document.body.append(dialog);
  dialog.showModal();
  try {
    const signin = await call("POST", `/stations/${encodeURIComponent(station)}/phone-tokens`);
    // The API's own SVG (a QR code of the link): drawn as an image, never run as markup.
    const img = el("img", { alt: signin.url, src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(signin.qr_svg)}` });
    qr.replaceChildren(img);
    qr.dataset.name = signin.name;
    link.textContent = signin.url;
  } catch (err) {
    qr.replaceChildren(el("p", { class: "error", text: `${t("phoneFailed")}: ${err.message}` }));
  }
  await renderPhones(list, station);
}
