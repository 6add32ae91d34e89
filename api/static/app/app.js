// recsys demo: the search box, home rows and title pages over the public API; every click,
// play and rating is posted to /v1/events, so the page is a source of feedback itself.
const $ = (sel) => document.querySelector(sel);
const page = new URLSearchParams(location.search);
const state = { user: localStorage.getItem("recsys-user") ?? "", lang: localStorage.getItem("recsys-lang") ?? "en" };
const LANGS = { en: "English", fr: "French", de: "German", es: "Spanish", it: "Italian", pt: "Portuguese",
  ja: "Japanese", ko: "Korean", zh: "Chinese", ru: "Russian", hi: "Hindi" };
let searchTimer = null;
let searchSeq = 0;

function newId() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

function viewer() {
  if (!state.user) { state.user = `web-${newId().slice(0, 8)}`; localStorage.setItem("recsys-user", state.user); }
  return state.user;
}

function filters() {
  const out = {};
  const pairs = [["type", "#f-type"], ["genre", "#f-genre"], ["year_min", "#f-year-min"],
    ["year_max", "#f-year-max"], ["original_language", "#f-orig"], ["maturity_rating", "#f-maturity"]];
  for (const [name, sel] of pairs) { const v = $(sel).value.trim(); if (v) out[name] = v; }
  return out;
}

async function api(path, params = {}) {
  const query = new URLSearchParams({ ...params, lang: state.lang });
  if (page.get("variant")) query.set("variant", page.get("variant"));
  const response = await fetch(`${path}?${query}`, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body?.error?.message ?? `${response.status} ${response.statusText}`);
  return body;
}

async function postEvent(type, item, extra = {}) {
  const event = { event_id: newId(), type, user_id: viewer(), item_id: item.item_id, ...extra };
  const response = await fetch("/v1/events", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ events: [event] }) });
  if (!response.ok) throw new Error(`event not recorded (${response.status})`);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) node.setAttribute(k, v);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function card(item, position, page, why) {
  const meta = [item.year, (item.genres ?? []).slice(0, 3).join(", ")].filter(Boolean).join(" · ");
  const original = item.original_title && item.original_title !== item.title ? item.original_title : null;
  const reason = el("p", { class: "why" });
  if (why) reason.innerHTML = why; // server-escaped highlights (<mark> only) or plain reasons
  return el("li", {},
    el("button", { class: "card", type: "button", "data-item": item.item_id,
      onclick: () => openItem(item, position, page) },
      el("span", { class: "title", lang: item.lang ?? undefined }, item.title),
      original ? el("span", { class: "original" }, original) : null,
      el("span", { class: "meta" }, meta),
      reason));
}

function escape(text) { const d = document.createElement("div"); d.textContent = text; return d.innerHTML; }

function row(title, body, kind) {
  const items = body.items ?? [];
  const list = el("ol", { class: "cards" }, items.map((item, i) =>
    card(item, i, body, escape((item.reasons ?? []).join(" · ")))));
  return el("section", { class: "row", "data-row": kind, "aria-label": title },
    el("h2", {}, title), items.length ? list : el("p", { class: "empty" }, "Nothing here yet."));
}

function showArm(body) {
  const arm = body.experiment ? `experiment ${body.experiment}: ${body.variant}` : "no experiment";
  $("#arm").textContent = `${arm} · ranker ${body.ranker ?? "-"} · model ${body.model_version ?? "-"}`;
}

async function renderHome() {
  $("#results").hidden = true; $("#detail").hidden = true; $("#rows").hidden = false;
  const f = filters();
  const langName = LANGS[state.lang] ?? state.lang;
  try {
    const [picks, trending, local] = await Promise.all([
      api("/v1/recommendations", { user_id: viewer(), k: 12, ...f }),
      api("/v1/popular", { k: 12, ...f }),
      api("/v1/popular", { k: 12, ...f, original_language: state.lang }),
    ]);
    showArm(picks);
    const first = picks.cold_start
      ? el("p", { class: "hint", "data-row": "picks-hint" }, "Play or rate a title to get your own top picks.")
      : row("Top picks for you", picks, "picks");
    $("#rows").replaceChildren(first, row("Trending now", trending, "trending"),
      row(`Popular in ${langName}`, local, "local"));
    $("#status").textContent = "";
  } catch (err) { $("#status").textContent = err.message; }
}

async function runSearch() {
  const q = $("#q").value.trim();
  if (!q) { renderHome(); return; }
  const seq = ++searchSeq;
  try {
    const params = { q, k: 20, ...filters() };
    if (state.user) params.user_id = state.user;
    const body = await api("/v1/search", params);
    if (seq !== searchSeq) return; // a newer query is on its way
    const items = body.items ?? [];
    $("#rows").hidden = true; $("#detail").hidden = true;
    const why = (item) => item.highlights?.description ?? item.highlights?.title ?? "";
    $("#results").replaceChildren(el("h2", {}, `Results for “${q}”`),
      el("ol", { class: "cards" }, items.map((item, i) => card(item, i, body, why(item)))));
    $("#results").hidden = false;
    $("#status").textContent = items.length ? `${items.length} results` : "No results";
    if (body.experiment !== undefined) showArm(body);
  } catch (err) { if (seq === searchSeq) $("#status").textContent = err.message; }
}

async function openItem(item, position, from) {
  try {
    await postEvent("click", item, { request_id: from.request_id, position });
    const [details, similar] = await Promise.all([
      api(`/v1/items/${encodeURIComponent(item.item_id)}`),
      api(`/v1/items/${encodeURIComponent(item.item_id)}/similar`, { k: 8 }),
    ]);
    const facts = [details.year, details.type === "tv_show" ? "TV show" : "Movie",
      (details.genres ?? []).join(", "), details.maturity_rating].filter(Boolean).join(" · ");
    const rate = el("select", { id: "rate", "aria-label": "Your rating" },
      el("option", { value: "" }, "Rate…"), [5, 4.5, 4, 3.5, 3, 2, 1].map((v) => el("option", { value: v }, `${v} ★`)));
    rate.addEventListener("change", async () => {
      if (!rate.value) return;
      await postEvent("rating", item, { value: Number(rate.value), request_id: from.request_id, position });
      $("#detail").hidden = true;
      await renderHome();
      $("#status").textContent = `Rated ${details.title} ${rate.value} ★: your rows are updated`;
    });
    $("#detail").replaceChildren(
      el("button", { type: "button", class: "close", onclick: () => { $("#detail").hidden = true; } }, "Close"),
      el("h2", { id: "detail-title", lang: details.lang ?? undefined }, details.title),
      details.original_title && details.original_title !== details.title ? el("p", { class: "original" }, details.original_title) : null,
      el("p", { class: "meta" }, facts),
      el("p", {}, details.description ?? ""),
      el("div", { class: "actions" },
        el("button", { type: "button", id: "play", onclick: async () => {
          await postEvent("play", item, { request_id: from.request_id, position });
          $("#detail").hidden = true;
          $("#q").value = "";
          await renderHome();
          $("#status").textContent = `Playing ${details.title}: your rows are updated`;
        } }, "▶ Play"), rate),
      row("More like this", similar, "similar"));
    $("#detail").hidden = false;
    $("#detail-title").setAttribute("tabindex", "-1");
    $("#detail-title").focus();
  } catch (err) { $("#status").textContent = err.message; }
}

function init() {
  $("#lang").value = state.lang;
  if ([...$("#user").options].some((o) => o.value === state.user)) $("#user").value = state.user;
  else if (state.user) $("#user").prepend(el("option", { value: state.user }, `You (${state.user})`)), ($("#user").value = state.user);
  document.documentElement.lang = state.lang;
  $("#lang").addEventListener("change", () => {
    state.lang = $("#lang").value; localStorage.setItem("recsys-lang", state.lang);
    document.documentElement.lang = state.lang; runSearch();
  });
  $("#user").addEventListener("change", () => {
    state.user = $("#user").value; localStorage.setItem("recsys-user", state.user); runSearch();
  });
  $("#q").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(runSearch, 250); });
  $("#search-form").addEventListener("submit", (e) => { e.preventDefault(); clearTimeout(searchTimer); runSearch(); });
  $("#filters").addEventListener("change", () => runSearch());
  if (page.get("q")) $("#q").value = page.get("q");
  runSearch();
}

init();
