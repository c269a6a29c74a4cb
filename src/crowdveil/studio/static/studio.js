// crowdveil studio: the page. Plain JS, no libraries, talks only to the studio itself.
// Regions are kept in the upright image's own pixel coordinates; the SVG's viewBox is a window onto
// the image (the whole of it, or the part zoomed in on), so the browser does the scaling.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const CLICK_SLOP_PX = 4;      // a press that moves less than this (on screen) is a click
const MIN_REGION_PX = 4;      // smaller drawn boxes are ignored (in image pixels)
const HANDLE_PX = 10;         // corner handle size on screen; handles sit outside the box, never on the face
const OUTLINE_PX = 2;         // box outlines are drawn just outside the box, never over the face
const MAX_ZOOM = 16;          // screen pixels per image pixel at the most
const PAN_STEP = 0.15;        // arrow keys move the view by this share of it
const UNDO_LIMIT = 200;

const S = {
  items: [], byId: {}, outDir: "", defaults: {}, maxUpload: 0,
  view: "grid", current: null, edits: {}, history: {}, selected: -1, showResult: false, asExported: false,
  exporting: false, exportingAll: false, cards: {}, drag: null, uploads: 0, zoom: null, spaceDown: false,
  pointers: new Map(), pinch: null, scrubIndex: 0, geometry: {}, personTool: false,
};
const $ = (id) => document.getElementById(id);

// ---- language ------------------------------------------------------------------------------
// The page's text comes from the studio's catalog (i18n/studio/<language>.json), fetched from the
// studio itself: the language the browser prefers, or the one picked with the switch (kept for this tab).
const LANG_STORE = "crowdveil-language";
const I18N = { language: "en", messages: {} };

function t(id, fields) {
  const text = Object.prototype.hasOwnProperty.call(I18N.messages, id) ? I18N.messages[id] : id;
  if (!fields) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in fields ? String(fields[name]) : whole));
}

// The library's names for metadata kinds and checks, in the page's language when the catalog has them.
function libraryTerm(prefix, text) {
  const id = `${prefix}.${String(text).toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_|_$/g, "")}`;
  return Object.prototype.hasOwnProperty.call(I18N.messages, id) ? I18N.messages[id] : text;
}

function kindsText(kinds) { return kinds.map((k) => libraryTerm("metadata", k)).join(t("list.separator")); }

async function loadCatalog(language) {
  const query = language ? `?lang=${encodeURIComponent(language)}` : "";
  const response = await fetch(`/catalog${query}`, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`the studio answered ${response.status}`);
  const catalog = await response.json();
  I18N.language = catalog.language;
  I18N.messages = catalog.messages;
  const select = $("language");
  select.textContent = "";
  for (const { tag, name } of catalog.languages) {
    const option = document.createElement("option");
    option.value = tag;
    option.textContent = name;
    select.appendChild(option);
  }
  select.value = I18N.language;
  applyCatalog();
}

function applyCatalog() {
  document.documentElement.lang = I18N.language;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-title]")) node.title = t(node.dataset.i18nTitle);
  for (const node of document.querySelectorAll("[data-i18n-aria-label]")) node.setAttribute("aria-label", t(node.dataset.i18nAriaLabel));
  document.title = t("page.title");
}

async function switchLanguage(language) {
  sessionStorage.setItem(LANG_STORE, language);
  await loadCatalog(language);
  S.shownSignature = null;
  for (const card of Object.values(S.cards)) delete card.dataset.signature;
  renderGrid();
  if (S.view === "editor") { renderEditorStatus(); renderRegions(); renderZoomLevel(); }
  if (S.lastSummary) renderSummary(S.lastSummary);
}

// ---- access --------------------------------------------------------------------------------
// The cookie reaches every port of 127.0.0.1, so it opens nothing by itself: the studio handed this
// tab a second secret in the URL fragment when it spent the one-time link. It is kept in
// sessionStorage (this origin, that is this port, and this tab only), sent as a header on every
// request, and taken out of the address bar and the history at once.
const KEY_STORE = "crowdveil-key";
const PAGE_KEY = (() => {
  const match = /^#key=([A-Za-z0-9_-]+)$/.exec(window.location.hash);
  if (match) {
    sessionStorage.setItem(KEY_STORE, match[1]);
    history.replaceState(null, "", window.location.pathname);
  }
  return sessionStorage.getItem(KEY_STORE) || "";
})();

// ---- server --------------------------------------------------------------------------------
async function api(path, options = {}) {
  const response = await send(path, options);
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    const message = (body && body.error) || t("server.answered", { status: response.status });
    throw new Error(message);
  }
  return body;
}

function send(path, options = {}) {
  // Refusals come back in the page's language.
  const headers = { ...(options.headers || {}), "X-Crowdveil-Key": PAGE_KEY, "Accept-Language": I18N.language };
  return fetch(path, { credentials: "same-origin", ...options, headers });
}

// Images, videos and downloads go through fetch too (an <img src> cannot send the key); what the
// page shows is a blob: URL of the bytes fetched.
async function blobUrl(path) {
  const response = await send(path);
  if (!response.ok) throw new Error(t("server.answered", { status: response.status }));
  return URL.createObjectURL(await response.blob());
}

function showImage(node, attribute, path) {
  node.dataset.src = path;
  blobUrl(path).then((url) => {
    if (node.dataset.src !== path) { URL.revokeObjectURL(url); return; }  // replaced meanwhile
    const old = node.getAttribute(attribute);
    node.setAttribute(attribute, url);
    if (old && old.startsWith("blob:")) URL.revokeObjectURL(old);
  }).catch(() => {});
}

async function download(path, name) {
  const url = await blobUrl(path);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

async function refresh() {
  const state = await api("/api/state");
  S.items = state.items;
  S.byId = Object.fromEntries(state.items.map((it) => [it.id, it]));
  S.outDir = state.out_dir_shown || state.out_dir;
  S.defaults = state.defaults;
  S.geometry = state.geometry || {};
  S.maxUpload = state.max_upload_bytes;
  $("out-dir").textContent = S.outDir;
  if (S.defaults.fill_color) $("canvas").style.setProperty("--fill", `rgb(${S.defaults.fill_color.join(",")})`);
  renderGrid();
  if (S.view === "editor") {
    if (!S.byId[S.current]) { closeEditor(); return; }
    renderEditorStatus();
  }
}

function busy(item) { return ["waiting", "analysing", "exporting"].includes(item.status); }

async function pollForever() {
  for (;;) {
    try { await refresh(); } catch (e) { /* the studio may be restarting; try again */ }
    const anyBusy = S.items.some(busy) || S.uploads > 0;
    await new Promise((r) => setTimeout(r, anyBusy ? 500 : 2500));
  }
}

// ---- errors in plain words -----------------------------------------------------------------
// The library names what went wrong by its error's class and says what to do (its ``hint``). The page
// words each class plainly and, when the hint is the class's own, shows it in the page's language
// (the catalog holds the library's hints; tests/test_studio_review.py keeps them equal in English).
const ERROR_KINDS = ["CrowdveilError", "InputError", "UnsupportedFormat", "CorruptInput", "NotARegularFile", "TooLarge",
  "OutputError", "UnsafeOutputPath", "WriteFailed", "ModelError", "DetectionFailed", "VerificationFailed", "unexpected"];

function plainError(kind, message, hint, hintIsDefault) {
  const known = ERROR_KINDS.includes(kind) ? kind : "unexpected";
  return {
    title: t(`error.kind.${known}`),
    todo: hintIsDefault && known !== "unexpected" ? t(`error.hint.${known}`) : (hint || t("error.hint.CrowdveilError")),
    details: message || "",
  };
}

function errorNode(plain) {
  const box = document.createElement("div");
  box.className = "plain-error";
  const what = document.createElement("p");
  what.className = "error-title";
  what.textContent = plain.title;
  const todo = document.createElement("p");
  todo.className = "error-todo";
  todo.textContent = t("error.what_to_do", { hint: plain.todo });
  box.append(what, todo);
  if (plain.details) {
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = t("error.details");
    const code = document.createElement("code");
    code.textContent = plain.details;
    details.append(summary, code);
    box.appendChild(details);
  }
  return box;
}

// ---- adding files --------------------------------------------------------------------------
async function addFiles(files) {
  const list = Array.from(files);
  if (!list.length) return;
  const note = $("upload-status");
  let done = 0;
  const refused = [];
  S.uploads += list.length;
  for (const file of list) {
    note.textContent = t("upload.adding", { name: file.name, n: done + 1, total: list.length });
    try {
      if (S.maxUpload && file.size > S.maxUpload) {
        throw new Error(t("upload.too_large", { mib: Math.round(S.maxUpload / 1048576) }));
      }
      await api(`/api/upload?name=${encodeURIComponent(file.name)}`, {
        method: "POST", body: file, headers: { "Content-Type": "application/octet-stream" },
      });
    } catch (e) {
      refused.push(`${file.name}: ${e.message}`);
    }
    done += 1;
    S.uploads -= 1;
    await refresh().catch(() => {});
  }
  note.textContent = refused.length ? t("upload.not_added", { list: refused.join("; ") }) : t("upload.added", { n: done });
}

function setUpDropZone() {
  const zone = $("drop-zone");
  $("file-input").addEventListener("change", (e) => { addFiles(e.target.files); e.target.value = ""; });
  for (const type of ["dragenter", "dragover"]) {
    document.addEventListener(type, (e) => { e.preventDefault(); if (S.view === "grid") zone.classList.add("over"); });
  }
  document.addEventListener("dragleave", (e) => { if (!e.relatedTarget) zone.classList.remove("over"); });
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (S.view === "grid" && e.dataTransfer) addFiles(e.dataTransfer.files);
  });
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") $("file-input").click(); });
}

// ---- grid ----------------------------------------------------------------------------------
function statusLines(item) {
  const lines = [];
  if (item.status === "waiting") return [["busy", t("status.waiting")]];
  if (item.status === "analysing") return [["busy", t("status.analysing")]];
  if (item.status === "error") return [];
  if (item.media === "photo") {
    const n = item.face_count;
    lines.push(["", n === 0 ? t("status.no_faces") : n === 1 ? t("status.one_face") : t("status.faces", { n })]);
  } else {
    lines.push(["", t("status.video")]);
  }
  lines.push(["", item.metadata_kinds.length
    ? t("status.metadata", { kinds: kindsText(item.metadata_kinds) })
    : t("status.no_metadata")]);
  if (item.status === "exporting") {
    const p = item.progress;
    lines.push(["busy", p && p[1] ? t("status.exporting_pct", { pct: Math.round(100 * p[0] / p[1]) }) : t("status.exporting")]);
  } else if (item.status === "exported") {
    lines.push(["ok", t("status.exported")]);
  } else if (item.status === "refused") {
    lines.push(["bad", t("status.refused")]);
  } else {
    lines.push(["", t("status.not_exported")]);
  }
  return lines;
}

async function removeItem(id) {
  try {
    await api(`/api/items/${id}/remove`, { method: "POST" });
  } catch (e) {
    $("upload-status").textContent = e.message;
    return;
  }
  const card = S.cards[id];
  if (card) {
    const img = card.querySelector("img");
    if (img && img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
    card.remove();
  }
  delete S.cards[id];
  delete S.edits[id];
  delete S.history[id];
  await refresh().catch(() => {});
}

function renderGrid() {
  const grid = $("grid");
  $("empty-note").hidden = S.items.length > 0;
  const present = new Set(S.items.map((it) => it.id));
  for (const [id, card] of Object.entries(S.cards)) {
    if (!present.has(id)) { card.remove(); delete S.cards[id]; }
  }
  for (const item of S.items) {
    let card = S.cards[item.id];
    if (!card) {
      card = document.createElement("li");
      card.className = "card";
      card.tabIndex = 0;
      card.dataset.id = item.id;
      card.innerHTML = '<div class="thumb">…</div><div class="card-body"><div class="card-name"></div><div class="lines"></div>'
        + '<button class="button remove" type="button"></button></div>';
      card.querySelector(".card-name").textContent = item.name;
      card.addEventListener("click", (e) => { if (!e.target.closest(".remove, details")) openEditor(item.id); });
      card.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.target === card) openEditor(item.id); });
      card.querySelector(".remove").addEventListener("click", (e) => { e.stopPropagation(); removeItem(item.id); });
      grid.appendChild(card);
      S.cards[item.id] = card;
    }
    const thumb = card.querySelector(".thumb");
    if (item.has_preview && !thumb.querySelector("img")) {
      const img = new Image();
      img.alt = item.name;
      showImage(img, "src", `/api/items/${item.id}/preview`);
      thumb.textContent = "";
      thumb.appendChild(img);
    } else if (!item.has_preview && item.status === "error") {
      thumb.textContent = t("card.unusable");
    }
    card.dataset.status = item.status;
    const signature = JSON.stringify([item.status, item.face_count, item.metadata_kinds, item.progress, item.message, I18N.language]);
    if (card.dataset.signature === signature) continue;
    card.dataset.signature = signature;
    const remove = card.querySelector(".remove");
    remove.textContent = t("card.remove");
    remove.title = t("card.remove_title");
    remove.hidden = item.status === "analysing" || item.status === "exporting";
    const lines = card.querySelector(".lines");
    lines.textContent = "";
    if (item.status === "error") {
      lines.appendChild(errorNode(plainError(item.error_kind, item.message, item.hint, item.hint_is_default)));
    }
    for (const [cls, text] of statusLines(item)) {
      const p = document.createElement("p");
      p.className = `status ${cls}`;
      p.textContent = text;
      lines.appendChild(p);
    }
  }
}

// ---- export all ----------------------------------------------------------------------------
// Regions drawn by hand (a box, or a person's head with the person tool): a click deletes them.
function drawn(region) { return region.kind === "manual" || region.kind === "person"; }

// What the export covers besides faces, as ``--cover`` takes it: text on photos, bodies on both.
function coversToSend(edits, item) {
  const cover = [];
  if (edits.coverText && item.media === "photo") cover.push("text");
  if (edits.coverBodies) cover.push("bodies");
  return cover;
}

function regionsToSend(edits) {
  const kept = edits.regions.filter((r) => !r.removed).map(({ box, kind, source, score }) => ({ box, kind, source, score }));
  // A face left visible is the face as it was found (the studio accepts no other box for it).
  const removed = edits.regions.filter((r) => r.removed).map(({ box, found, kind, source, score }) => ({ box: found || box, kind, source, score }));
  return { regions: kept, removed };
}

async function waitUntil(test) {
  for (;;) {
    await refresh().catch(() => {});
    if (test()) return;
    await new Promise((r) => setTimeout(r, 400));
  }
}

async function exportAll() {
  if (S.exportingAll || !S.items.length) return;
  S.exportingAll = true;
  $("export-all").disabled = true;
  $("all-summary").hidden = true;
  const bar = $("all-progress");
  bar.hidden = false;
  const setProgress = (done, total, text) => {
    $("all-bar").style.width = `${Math.round(100 * done / Math.max(1, total))}%`;
    $("all-text").textContent = text;
  };
  setProgress(0, 1, t("all.waiting"));
  // Files still being looked at are waited for (their regions are not known yet), and exports under way.
  await waitUntil(() => !S.items.some(busy));
  const items = S.items.slice();
  const summary = { saved: [], already: [], refused: [] };
  for (const [n, snapshot] of items.entries()) {
    setProgress(n, items.length, t("all.progress", { n: n + 1, total: items.length, name: snapshot.name }));
    const item = S.byId[snapshot.id];
    if (!item) continue;  // removed meanwhile
    if (item.status === "error") {
      summary.refused.push({ name: item.name, ...plainError(item.error_kind, item.message, item.hint, item.hint_is_default) });
      continue;
    }
    if (item.status === "exported" && !(S.edits[item.id] && S.edits[item.id].changed)) {
      summary.already.push(item.name);
      continue;
    }
    const edits = editsFor(item);
    const body = { ...regionsToSend(edits), style: edits.style, shape: edits.shape, keep_audio: edits.keepAudio === true,
      fixes: edits.fixes || [], cover: coversToSend(edits, item) };
    let updated;
    try {
      updated = await api(`/api/items/${item.id}/export`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      if (updated.status === "exporting") {  // videos export in the background
        await waitUntil(() => !S.byId[item.id] || S.byId[item.id].status !== "exporting");
        updated = S.byId[item.id] || updated;
      }
    } catch (e) {
      summary.refused.push({ name: item.name, title: t("all.not_sent"), todo: e.message, details: "" });
      continue;
    }
    edits.changed = false;
    if (updated.status === "exported") {
      summary.saved.push(updated.export.file_name);
    } else {
      const exp = updated.export || {};
      const plain = plainError(exp.kind, exp.message, exp.hint, exp.hint_is_default);
      if (exp.verification) plain.title = t("result.refused_verification");
      summary.refused.push({ name: item.name, ...plain });
    }
    await refresh().catch(() => {});
  }
  setProgress(items.length, items.length, t("all.done"));
  S.lastSummary = summary;
  renderSummary(summary);
  S.exportingAll = false;
  $("export-all").disabled = false;
}

function renderSummary(summary) {
  const box = $("all-summary");
  box.hidden = false;
  box.className = `summary ${summary.refused.length ? "bad" : "ok"}`;
  box.textContent = "";
  const h = document.createElement("h3");
  h.textContent = t("all.summary", { saved: summary.saved.length, refused: summary.refused.length });
  box.appendChild(h);
  if (summary.already.length) {
    const p = document.createElement("p");
    p.textContent = t("all.already", { n: summary.already.length });
    box.appendChild(p);
  }
  if (summary.refused.length) {
    const ul = document.createElement("ul");
    ul.className = "refused-list";
    for (const entry of summary.refused) {
      const li = document.createElement("li");
      const name = document.createElement("b");
      name.textContent = entry.name;
      li.append(name, errorNode(entry));
      ul.appendChild(li);
    }
    box.appendChild(ul);
  }
}

// ---- editor: state -------------------------------------------------------------------------
function editsFor(item) {
  if (item.status === "waiting" || item.status === "analysing") {
    return { regions: [], style: item.style || S.defaults.style, shape: item.shape || S.defaults.shape };
  }
  if (!S.edits[item.id]) {
    let regions;
    if (item.regions || item.removed) {
      regions = (item.regions || []).map((r) => ({ ...r, removed: false }))
        .concat((item.removed || []).map((r) => ({ ...r, removed: true })));
    } else {
      // Text found on opening (``crowdveil studio --cover text``) is suggested covered, as the CLI covers it.
      const found = item.faces.concat(item.text && (S.defaults.cover || []).includes("text") ? item.text : []);
      regions = found.map((f) => ({ box: f.box.slice(), found: f.box.slice(), kind: f.kind || "face", source: f.source, score: f.score, removed: false }));
    }
    const covers = item.regions || item.removed ? item.cover || [] : S.defaults.cover || [];
    S.edits[item.id] = { regions, style: item.style || S.defaults.style, shape: item.shape || S.defaults.shape,
      coverText: covers.includes("text") && item.media === "photo", coverBodies: covers.includes("bodies"),
      keepAudio: item.keep_audio === true, fixes: (item.video_fixes || []).map((f) => ({ frame: f.frame, box: f.box.slice() })),
      changed: false };
  }
  return S.edits[item.id];
}

function currentItem() { return S.current ? S.byId[S.current] : null; }

// ---- undo / redo ---------------------------------------------------------------------------
function historyFor(item) {
  if (!S.history[item.id]) S.history[item.id] = { past: [], future: [] };
  return S.history[item.id];
}

// Whether text is covered is part of a step: undoing "cover text" takes its suggestions away with it.
function snapshot(edits) { return JSON.stringify({ regions: edits.regions, coverText: edits.coverText === true }); }

// Call before a change: the state before it becomes one undo step.
function remember() {
  const item = currentItem();
  if (!item) return;
  const h = historyFor(item);
  h.past.push(snapshot(editsFor(item)));
  if (h.past.length > UNDO_LIMIT) h.past.shift();
  h.future = [];
  renderUndo();
}

function undoRedo(redo) {
  const item = currentItem();
  if (!item || item.media !== "photo") return;
  const h = historyFor(item);
  const from = redo ? h.future : h.past;
  const to = redo ? h.past : h.future;
  if (!from.length) return;
  const edits = editsFor(item);
  to.push(snapshot(edits));
  const step = JSON.parse(from.pop());
  edits.regions = step.regions;
  edits.coverText = step.coverText;
  $("cover-text").checked = edits.coverText;
  if (S.selected >= edits.regions.length) S.selected = -1;
  markEdited();
  renderRegions();
  renderUndo();
}

function renderUndo() {
  const item = currentItem();
  const h = item ? historyFor(item) : { past: [], future: [] };
  $("undo").disabled = !h.past.length;
  $("redo").disabled = !h.future.length;
}

function noFacesHere() {
  const item = currentItem();
  if (!item || item.media !== "photo" || S.showResult) return;
  const edits = editsFor(item);
  if (!edits.regions.some((r) => !r.removed)) return;
  remember();
  edits.regions = edits.regions.filter((r) => !drawn(r)).map((r) => (r.kind === "text" ? r : { ...r, removed: true }));
  S.selected = -1;
  markEdited();
  renderRegions();
}

// ---- editor: open, close -------------------------------------------------------------------
function openEditor(id) {
  S.current = id;
  S.selected = -1;
  S.showResult = false;
  S.shownSignature = null;
  S.zoom = null;
  S.scrubIndex = 0;
  S.view = "editor";
  $("grid-view").hidden = true;
  $("editor-view").hidden = false;
  const item = currentItem();
  const edits = editsFor(item);
  $("style").value = edits.style;
  $("shape").value = edits.shape;
  $("keep-audio").checked = edits.keepAudio === true;
  $("cover-text").checked = edits.coverText === true;
  $("cover-bodies").checked = edits.coverBodies === true;
  $("text-status").textContent = "";
  const video = $("result-video");
  video.hidden = true;
  video.removeAttribute("src");
  delete video.dataset.item;
  buildCanvas();
  renderEditorStatus();
  renderUndo();
}

function closeEditor() {
  S.view = "grid";
  S.current = null;
  $("result-video").pause();
  $("editor-view").hidden = true;
  $("grid-view").hidden = false;
  renderGrid();
}

function step(delta) {
  if (!S.items.length) return;
  const index = S.items.findIndex((it) => it.id === S.current);
  const next = S.items[(index + delta + S.items.length) % S.items.length];
  openEditor(next.id);
}

// ---- editor: zoom and pan ------------------------------------------------------------------
// The view is a centre in image pixels and a scale in screen pixels per image pixel; the SVG's
// viewBox follows it, with the stage's own aspect ratio.
function stageSize() {
  const rect = $("canvas").getBoundingClientRect();
  return [Math.max(1, rect.width), Math.max(1, rect.height)];
}

function fitScale(item) {
  const [w, h] = stageSize();
  return Math.min(w / item.width, h / item.height);
}

function zoomView(item) {
  if (!S.zoom) S.zoom = { cx: item.width / 2, cy: item.height / 2, scale: fitScale(item) };
  return S.zoom;
}

function zoomedIn(item) { return S.zoom && S.zoom.scale > fitScale(item) * 1.001; }

function applyZoom() {
  const item = currentItem();
  if (!item || !item.width) return;
  const z = zoomView(item);
  const fit = fitScale(item);
  z.scale = Math.min(Math.max(z.scale, Math.min(fit, 1)), Math.max(fit, MAX_ZOOM));
  const [w, h] = stageSize();
  const vw = w / z.scale, vh = h / z.scale;
  // Keep the photo in sight: the centre may not leave the image, and a whole dimension stays centred.
  z.cx = vw >= item.width ? item.width / 2 : Math.min(Math.max(z.cx, vw / 2), item.width - vw / 2);
  z.cy = vh >= item.height ? item.height / 2 : Math.min(Math.max(z.cy, vh / 2), item.height - vh / 2);
  $("canvas").setAttribute("viewBox", `${z.cx - vw / 2} ${z.cy - vh / 2} ${vw} ${vh}`);
  renderZoomLevel();
}

function renderZoomLevel() {
  const item = currentItem();
  if (!item || !item.width || !S.zoom) return;
  $("zoom-level").textContent = `${Math.round(S.zoom.scale * 100)}%`;
}

// Zoom by ``factor`` keeping the image point under (clientX, clientY) where it is on screen.
function zoomBy(factor, clientX, clientY) {
  const item = currentItem();
  if (!item || !item.width) return;
  const z = zoomView(item);
  const rect = $("canvas").getBoundingClientRect();
  const sx = clientX === undefined ? rect.left + rect.width / 2 : clientX;
  const sy = clientY === undefined ? rect.top + rect.height / 2 : clientY;
  const [w, h] = stageSize();
  const px = z.cx + (sx - rect.left - w / 2) / z.scale;
  const py = z.cy + (sy - rect.top - h / 2) / z.scale;
  const fit = fitScale(item);
  const scale = Math.min(Math.max(z.scale * factor, Math.min(fit, 1)), Math.max(fit, MAX_ZOOM));
  z.cx = px - (sx - rect.left - w / 2) / scale;
  z.cy = py - (sy - rect.top - h / 2) / scale;
  z.scale = scale;
  applyZoom();
  renderRegions();
}

function zoomTo(scale) {
  const item = currentItem();
  if (!item || !item.width) return;
  const z = zoomView(item);
  z.scale = scale === "fit" ? fitScale(item) : scale;
  if (scale === "fit") { z.cx = item.width / 2; z.cy = item.height / 2; }
  applyZoom();
  renderRegions();
}

function panBy(dxScreen, dyScreen) {
  const item = currentItem();
  if (!item || !item.width) return;
  const z = zoomView(item);
  z.cx += dxScreen / z.scale;
  z.cy += dyScreen / z.scale;
  applyZoom();
  renderRegions();
}

// The selected box is brought into sight when it is outside the zoomed view.
function keepInView(box) {
  const item = currentItem();
  if (!zoomedIn(item)) return;
  const z = S.zoom;
  const [w, h] = stageSize();
  const vw = w / z.scale, vh = h / z.scale;
  const margin = 0.1;
  if (box[0] < z.cx - vw / 2 || box[2] > z.cx + vw / 2) z.cx = (box[0] + box[2]) / 2;
  if (box[1] < z.cy - vh / 2 || box[3] > z.cy + vh / 2) z.cy = (box[1] + box[3]) / 2;
  if (box[2] - box[0] > vw * (1 - margin) || box[3] - box[1] > vh * (1 - margin)) return;
  applyZoom();
}

function onWheel(event) {
  const item = currentItem();
  if (!item || !item.width || S.view !== "editor") return;
  event.preventDefault();
  // A trackpad pinch arrives as a wheel event with ctrlKey, in finer steps.
  const speed = event.ctrlKey ? 0.01 : 0.0015;
  zoomBy(Math.exp(-event.deltaY * speed), event.clientX, event.clientY);
}

// ---- editor: drawing -----------------------------------------------------------------------
function el(name, attrs = {}) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function reviewFrame(item) {
  if (item.media !== "video" || !item.review || !item.review.length) return null;
  return item.review[Math.min(S.scrubIndex, item.review.length - 1)];
}

function buildCanvas() {
  const item = currentItem();
  const svg = $("canvas");
  svg.textContent = "";
  const isVideo = item.media === "video";
  $("video-panel").hidden = !isVideo;
  $("photo-help").hidden = isVideo;
  $("photo-tools").hidden = isVideo || !item.width;
  $("audio-option").hidden = !isVideo;
  $("text-option").hidden = isVideo;
  svg.hidden = false;
  if (!item.width || !item.height) {
    svg.setAttribute("viewBox", "0 0 400 300");
    svg.appendChild(el("text", { x: 200, y: 150, "text-anchor": "middle", class: "tag" })).textContent =
      item.status === "error" ? t("editor.unusable") : t("editor.still_looking");
    return;
  }
  if (isVideo) { svg.style.height = "45vh"; } else { svg.style.height = ""; }
  const review = reviewFrame(item);
  let path;
  if (review) path = `/api/items/${item.id}/review/${Math.min(S.scrubIndex, item.review.length - 1)}`;
  else if (S.showResult && item.has_result) path = `/api/items/${item.id}/result?t=${Date.now()}`;
  else path = `/api/items/${item.id}/preview`;
  const photo = el("image", { x: 0, y: 0, width: item.width, height: item.height, id: "photo", preserveAspectRatio: "none" });
  svg.appendChild(photo);
  showImage(photo, "href", path);
  svg.appendChild(el("g", { id: "covers" }));
  svg.appendChild(el("g", { id: "regions" }));
  applyZoom();
  renderRegions();
}

function unitsPerScreenPx() {
  return S.zoom ? 1 / S.zoom.scale : 1;
}

function toImage(event) {
  const svg = $("canvas");
  const point = svg.createSVGPoint();
  point.x = event.clientX;
  point.y = event.clientY;
  const p = point.matrixTransform(svg.getScreenCTM().inverse());
  const item = currentItem();
  return [Math.min(Math.max(p.x, 0), item.width), Math.min(Math.max(p.y, 0), item.height)];
}

// The cover the export paints for a box: ``redact.regions.redaction_regions`` (padding on every
// side, 1.2 times as much on top, clipped to the image), then ``region_mask``'s pixels: edges rounded
// outwards, an ellipse drawn inside that whole-pixel box.
function coverOf(box, item) {
  const p = S.defaults.padding;
  const w = box[2] - box[0], h = box[3] - box[1];
  return padded([box[0] - w * p, box[1] - h * p * 1.2, box[2] + w * p, box[3] + h * p], item);
}

// ``TEXT_PADDING`` of a text box's height on every side; painted as a box whatever the shape.
function textCoverOf(box, item) {
  const grow = (box[3] - box[1]) * S.geometry.text_padding;
  return padded([box[0] - grow, box[1] - grow, box[2] + grow, box[3] + grow], item);
}

// ``redact.bodies.body_boxes``: the body below a face box, in float32 as numpy computes it.
function bodyOf(box) {
  const f = Math.fround, g = S.geometry;
  const [x1, y1, x2, y2] = box.map(f);
  const w = f(x2 - x1), h = f(y2 - y1), cx = f(f(x1 + x2) / 2);
  const half = f(f(g.body_half_width) * w);
  return [f(cx - half), f(y1 - f(f(g.body_above) * h)), f(cx + half), f(y2 + f(f(g.body_below) * h))];
}

// ``redact.bodies.merge_overlapping``: bodies overlapping by a share of the smaller one, transitively,
// become the box enclosing them, until no two overlap so (a dense crowd is one band).
function mergeOverlapping(boxes, share) {
  const area = (b) => Math.max(0, b[2] - b[0]) * Math.max(0, b[3] - b[1]);
  const inter = (a, b) => Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0])) * Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  let current = boxes.map((b) => b.slice());
  while (current.length > 1) {
    const n = current.length;
    const areas = current.map(area);
    const linked = (i, j) => {
      const x = inter(current[i], current[j]);
      return (areas[i] > 0 && Math.fround(x / areas[i]) >= share) || (areas[j] > 0 && Math.fround(x / areas[j]) >= share);
    };
    const labels = new Array(n).fill(-1);
    let count = 0;
    for (let start = 0; start < n; start++) {
      if (labels[start] >= 0) continue;
      const stack = [start];
      labels[start] = count;
      while (stack.length) {
        const node = stack.pop();
        for (let next = 0; next < n; next++) {
          if (labels[next] < 0 && linked(node, next)) { labels[next] = count; stack.push(next); }
        }
      }
      count += 1;
    }
    if (count === n) break;
    const merged = [];
    for (let g = 0; g < count; g++) {
      const members = current.filter((_, i) => labels[i] === g);
      merged.push([Math.min(...members.map((b) => b[0])), Math.min(...members.map((b) => b[1])),
        Math.max(...members.map((b) => b[2])), Math.max(...members.map((b) => b[3]))]);
    }
    current = merged;
  }
  return current;
}

// Every cover the export paints for the photo's regions, with the shape each is painted with
// (``redact.regions.region_shape``: text and bodies are boxes whatever the shape).
function coversOfRegions(edits, item, shape) {
  const covers = [];
  for (const r of edits.regions) {
    if (r.removed) continue;
    if (r.kind === "text") { covers.push([textCoverOf(r.box, item), "box"]); continue; }
    covers.push([coverOf(r.box, item), shape]);
    if (r.kind === "person") covers.push([padded(bodyOf(r.box), item), "box"]);
  }
  if (edits.coverBodies) {
    const faces = edits.regions.filter((r) => !r.removed && r.kind === "face").map((r) => bodyOf(r.box));
    for (const body of mergeOverlapping(faces, S.geometry.body_merge)) covers.push([padded(body, item), "box"]);
  }
  return covers.filter(([cover]) => cover);
}

function padded(box, item) {
  const x1 = Math.min(Math.max(box[0], 0), item.width), x2 = Math.min(Math.max(box[2], 0), item.width);
  const y1 = Math.min(Math.max(box[1], 0), item.height), y2 = Math.min(Math.max(box[3], 0), item.height);
  if (x2 <= x1 || y2 <= y1) return null;
  return [x1, y1, x2, y2];
}

function coverShape(cover, shape, cls) {
  const ix1 = Math.floor(cover[0]), iy1 = Math.floor(cover[1]), ix2 = Math.ceil(cover[2]), iy2 = Math.ceil(cover[3]);
  if (shape !== "ellipse") return el("rect", { x: ix1, y: iy1, width: ix2 - ix1, height: iy2 - iy1, class: cls });
  // OpenCV's filled ellipse: integer centre and half-axes (rounded up); its polygon reaches about one
  // pixel past them (measured: radius + 1 leaves ~0.5 % of pixels differing, + 0.5 leaves 3 %), clipped
  // to the whole-pixel box (a nested <svg> clips to its own area).
  const frame = el("svg", { x: ix1, y: iy1, width: ix2 - ix1, height: iy2 - iy1, class: "cover-clip", overflow: "hidden" });
  const cx = Math.round((cover[0] - ix1 + cover[2] - ix1) / 2);
  const cy = Math.round((cover[1] - iy1 + cover[3] - iy1) / 2);
  const ax = Math.max(1, Math.ceil((cover[2] - cover[0]) / 2));
  const ay = Math.max(1, Math.ceil((cover[3] - cover[1]) / 2));
  frame.appendChild(el("ellipse", { cx: cx + 0.5, cy: cy + 0.5, rx: ax + 1, ry: ay + 1, class: cls }));
  return frame;
}

function renderRegions() {
  const item = currentItem();
  const group = $("regions");
  const covers = $("covers");
  if (!group || !covers) return;
  group.textContent = "";
  covers.textContent = "";
  const canvas = $("canvas");
  canvas.classList.toggle("as-exported", S.asExported);
  canvas.classList.toggle("style-fill", ($("style").value || "fill") === "fill");
  const shape = $("shape").value || "box";
  if (item.media === "video") {
    const review = reviewFrame(item);
    if (review) {
      for (const box of review.regions) {
        const cover = padded(box, item);
        if (cover) covers.appendChild(coverShape(cover, item.shape || shape, "cover"));
      }
      // Regions drawn on this frame: their cover as it will be painted, and the box itself to click.
      const o = OUTLINE_PX * unitsPerScreenPx();
      editsFor(item).fixes.forEach((fix, i) => {
        if (fix.frame !== review.frame) return;
        const [x1, y1, x2, y2] = fix.box;
        const cover = coverOf(fix.box, item);
        if (cover) covers.appendChild(coverShape(cover, shape, "cover"));
        const rect = el("rect", { x: x1, y: y1, width: x2 - x1, height: y2 - y1, class: "region manual fix", "data-fix": i,
          "data-box": fix.box.map((v) => Math.round(v)).join(",") });
        const title = el("title");
        title.textContent = t("region.fix_title");
        rect.appendChild(title);
        group.appendChild(rect);
        group.appendChild(el("rect", { x: x1 - o / 2, y: y1 - o / 2, width: x2 - x1 + o, height: y2 - y1 + o,
          class: "outline manual", "stroke-width": o }));
      });
    }
    renderFixCount(item);
    return;
  }
  if (S.showResult && item.has_result) { updateCount(); return; }  // the result shows the painted copy only
  const edits = editsFor(item);
  const k = unitsPerScreenPx();
  const o = OUTLINE_PX * k;
  for (const [cover, coverShapeName] of coversOfRegions(edits, item, shape)) {
    covers.appendChild(coverShape(cover, coverShapeName, "cover"));
  }
  const many = edits.regions.length >= 60;
  edits.regions.forEach((r, i) => {
    const [x1, y1, x2, y2] = r.box;
    const classes = ["region", ["manual", "person", "text"].includes(r.kind) ? r.kind : "face"];
    if (r.removed) classes.push("removed");
    if (i === S.selected) classes.push("selected");
    // The box itself takes the clicks; its outline is drawn just outside it, so a 10-pixel face stays in view.
    const rect = el("rect", {
      x: x1, y: y1, width: Math.max(0, x2 - x1), height: Math.max(0, y2 - y1), class: classes.join(" "),
      "data-index": i, "data-box": r.box.map((v) => Math.round(v)).join(","),
    });
    const title = el("title");
    title.textContent = r.kind === "text" ? t(r.removed ? "region.text_visible_title" : "region.text_title")
      : r.removed ? t("region.visible_title") : r.kind === "manual" ? t("region.manual_title")
        : r.kind === "person" ? t("region.person_title") : t("region.face_title");
    rect.appendChild(title);
    group.appendChild(rect);
    group.appendChild(el("rect", {
      x: x1 - o / 2, y: y1 - o / 2, width: Math.max(0, x2 - x1) + o, height: Math.max(0, y2 - y1) + o,
      class: `outline ${classes.slice(1).join(" ")}`, "stroke-width": o,
    }));
    if (r.removed && (!many || i === S.selected)) {
      const tag = el("text", { x: x1, y: y1 - 6 * k, class: "tag", "font-size": 13 * k, "stroke-width": 3 * k });
      tag.textContent = t("region.visible_tag");
      group.appendChild(tag);
    }
  });
  const selected = edits.regions[S.selected];
  if (selected) {
    const [x1, y1, x2, y2] = selected.box;
    // A focus ring in two colours (seen on light and dark photos), outside the box and its outline.
    const ring = 3 * k;
    group.appendChild(el("rect", {
      x: x1 - o - ring * 1.5, y: y1 - o - ring * 1.5, width: x2 - x1 + 2 * o + ring * 3, height: y2 - y1 + 2 * o + ring * 3,
      class: "focus-ring outer", "stroke-width": ring * 2, id: "focus-ring",
    }));
    group.appendChild(el("rect", {
      x: x1 - o - ring * 0.5, y: y1 - o - ring * 0.5, width: x2 - x1 + 2 * o + ring, height: y2 - y1 + 2 * o + ring,
      class: "focus-ring inner", "stroke-width": ring,
    }));
    if (!selected.removed) {
      // Handles sit outside the box's corners: they never cover the face itself.
      const hs = HANDLE_PX * k;
      const gap = o + ring * 2;
      for (const [corner, hx, hy] of [["nw", x1 - gap - hs, y1 - gap - hs], ["ne", x2 + gap, y1 - gap - hs],
        ["sw", x1 - gap - hs, y2 + gap], ["se", x2 + gap, y2 + gap]]) {
        group.appendChild(el("rect", {
          x: hx, y: hy, width: hs, height: hs, class: `handle ${corner}`, "data-index": S.selected, "data-corner": corner,
          "stroke-width": 1.5 * k,
        }));
      }
    }
  }
  updateCount();
}

function renderFixCount(item) {
  const fixes = editsFor(item).fixes || [];
  $("fix-count").textContent = fixes.length ? t("video.fixes", { n: fixes.length }) : "";
}

function updateCount() {
  const item = currentItem();
  if (!item || item.media !== "photo") return;
  const regions = editsFor(item).regions;
  const covered = regions.filter((r) => !r.removed).length;
  const visible = regions.length - covered;
  $("region-count").textContent = visible ? t("count.covered_visible", { covered, visible }) : t("count.covered", { covered });
}

function announceSelection() {
  const item = currentItem();
  const regions = editsFor(item).regions;
  const r = regions[S.selected];
  $("selection-note").textContent = r
    ? t(r.kind === "text" ? (r.removed ? "select.text_visible" : "select.text") : r.removed ? "select.visible"
      : r.kind === "manual" ? "select.manual" : r.kind === "person" ? "select.person" : "select.face", { n: S.selected + 1, total: regions.length })
    : "";
}

// ---- editor: mouse, touch ------------------------------------------------------------------
function onPointerDown(event) {
  const item = currentItem();
  if (!item || !item.width || S.exporting) return;
  S.pointers.set(event.pointerId, [event.clientX, event.clientY]);
  if (S.pointers.size === 2) {  // two fingers: pinch to zoom and pan, never draw
    const [a, b] = [...S.pointers.values()];
    S.pinch = { distance: Math.hypot(a[0] - b[0], a[1] - b[1]), centre: [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2] };
    S.drag = null;
    const draft = $("draft");
    if (draft) draft.remove();
    return;
  }
  const reviewing = item.media === "video" && reviewFrame(item) && item.status !== "exporting";
  const pan = event.button === 1 || (event.button === 0 && S.spaceDown) || (item.media !== "photo" && !reviewing);
  if (pan) {
    S.drag = { mode: "pan", screen: [event.clientX, event.clientY], last: [event.clientX, event.clientY], moved: false };
    $("canvas").setPointerCapture(event.pointerId);
    event.preventDefault();
    return;
  }
  if (event.button !== 0) return;
  if (reviewing) {
    const fix = event.target.dataset && event.target.dataset.fix !== undefined ? Number(event.target.dataset.fix) : -1;
    S.drag = { mode: fix >= 0 ? "fix-click" : "draw", fix, start: toImage(event), screen: [event.clientX, event.clientY], moved: false };
    $("canvas").setPointerCapture(event.pointerId);
    event.preventDefault();
    return;
  }
  if (S.showResult) { toggleResult(); return; }
  const target = event.target;
  const start = toImage(event);
  const edits = editsFor(item);
  const index = target.dataset && target.dataset.index !== undefined ? Number(target.dataset.index) : -1;
  S.drag = { start, screen: [event.clientX, event.clientY], index, moved: false, remembered: false };
  if (target.classList.contains("handle")) {
    S.drag.mode = "resize";
    S.drag.corner = target.dataset.corner;
    S.selected = index;
  } else if (index >= 0) {
    S.drag.mode = edits.regions[index].removed ? "toggle" : "move";
    S.drag.original = edits.regions[index].box.slice();
    S.selected = index;
  } else {
    S.drag.mode = "draw";
  }
  $("canvas").setPointerCapture(event.pointerId);
  event.preventDefault();
}

function onPointerMove(event) {
  if (S.pointers.has(event.pointerId)) S.pointers.set(event.pointerId, [event.clientX, event.clientY]);
  if (S.pinch && S.pointers.size === 2) {
    const [a, b] = [...S.pointers.values()];
    const distance = Math.hypot(a[0] - b[0], a[1] - b[1]);
    const centre = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
    panBy(S.pinch.centre[0] - centre[0], S.pinch.centre[1] - centre[1]);
    if (S.pinch.distance > 0) zoomBy(distance / S.pinch.distance, centre[0], centre[1]);
    S.pinch = { distance, centre };
    return;
  }
  const drag = S.drag;
  if (!drag) return;
  const dx = event.clientX - drag.screen[0];
  const dy = event.clientY - drag.screen[1];
  if (!drag.moved && Math.hypot(dx, dy) < CLICK_SLOP_PX) return;
  drag.moved = true;
  if (drag.mode === "pan") {
    panBy(drag.last[0] - event.clientX, drag.last[1] - event.clientY);
    drag.last = [event.clientX, event.clientY];
    return;
  }
  const item = currentItem();
  const edits = editsFor(item);
  const [x, y] = toImage(event);
  if ((drag.mode === "move" || drag.mode === "resize") && !drag.remembered) { remember(); drag.remembered = true; }
  if (drag.mode === "draw") {
    let draft = $("draft");
    if (!draft) { draft = el("rect", { id: "draft", class: "draft", "vector-effect": "non-scaling-stroke" }); $("regions").appendChild(draft); }
    const [sx, sy] = drag.start;
    draft.setAttribute("x", Math.min(sx, x)); draft.setAttribute("y", Math.min(sy, y));
    draft.setAttribute("width", Math.abs(x - sx)); draft.setAttribute("height", Math.abs(y - sy));
  } else if (drag.mode === "move") {
    const [ox1, oy1, ox2, oy2] = drag.original;
    const mx = Math.min(Math.max(x - drag.start[0], -ox1), item.width - ox2);
    const my = Math.min(Math.max(y - drag.start[1], -oy1), item.height - oy2);
    edits.regions[drag.index].box = [ox1 + mx, oy1 + my, ox2 + mx, oy2 + my];
    renderRegions();
  } else if (drag.mode === "resize") {
    const box = edits.regions[drag.index].box;
    if (drag.corner.includes("w")) box[0] = x; else box[2] = x;
    if (drag.corner.includes("n")) box[1] = y; else box[3] = y;
    renderRegions();
  }
}

function onPointerUp(event) {
  S.pointers.delete(event.pointerId);
  if (S.pinch) { if (S.pointers.size < 2) S.pinch = null; return; }
  const drag = S.drag;
  if (!drag) return;
  S.drag = null;
  if (drag.mode === "pan") return;
  const item = currentItem();
  const edits = editsFor(item);
  if (item.media === "video") {
    const draft = $("draft");
    if (draft) draft.remove();
    const review = reviewFrame(item);
    if (drag.mode === "fix-click" && !drag.moved) {
      edits.fixes.splice(drag.fix, 1);
    } else if (drag.mode === "draw" && drag.moved && review) {
      const [x, y] = toImage(event);
      const [sx, sy] = drag.start;
      const box = [Math.min(sx, x), Math.min(sy, y), Math.max(sx, x), Math.max(sy, y)];
      if (box[2] - box[0] >= MIN_REGION_PX && box[3] - box[1] >= MIN_REGION_PX) edits.fixes.push({ frame: review.frame, box });
    }
    edits.changed = true;
    renderRegions();
    return;
  }
  if (drag.mode === "draw") {
    const draft = $("draft");
    if (draft) draft.remove();
    if (drag.moved) {
      const [x, y] = toImage(event);
      const [sx, sy] = drag.start;
      const box = [Math.min(sx, x), Math.min(sy, y), Math.max(sx, x), Math.max(sy, y)];
      if (box[2] - box[0] >= MIN_REGION_PX && box[3] - box[1] >= MIN_REGION_PX) {
        remember();
        edits.regions.push({ box, kind: S.personTool ? "person" : "manual", source: "studio", score: 1, removed: false });
        S.selected = edits.regions.length - 1;
      }
    } else {
      S.selected = -1;
    }
  } else if (drag.mode === "resize") {
    const b = edits.regions[drag.index].box;
    edits.regions[drag.index].box = [Math.min(b[0], b[2]), Math.min(b[1], b[3]), Math.max(b[0], b[2]), Math.max(b[1], b[3])];
  } else if (!drag.moved) {
    remember();
    removeOrRestore(drag.index);
  }
  markEdited();
  renderRegions();
  announceSelection();
}

function removeOrRestore(index) {
  const edits = editsFor(currentItem());
  const region = edits.regions[index];
  if (!region) return;
  if (drawn(region)) {
    edits.regions.splice(index, 1);
    S.selected = -1;
  } else {
    region.removed = !region.removed;
  }
}

function markEdited() {
  const item = currentItem();
  if (!item) return;
  editsFor(item).changed = true;
  if (["exported", "refused"].includes(item.status)) {
    $("result").dataset.stale = "1";
    renderEditorStatus();
  }
}

// ---- editor: export and status -------------------------------------------------------------
async function exportCurrent() {
  const item = currentItem();
  if (!item || S.exporting || busy(item) || item.status === "error") return;
  const edits = editsFor(item);
  edits.style = $("style").value;
  edits.shape = $("shape").value;
  edits.keepAudio = $("keep-audio").checked;
  S.exporting = true;
  delete $("result").dataset.stale;
  showResult("busy", item.media === "video" ? t("result.exporting_video") : t("result.exporting_photo"), []);
  $("export").disabled = true;
  try {
    const updated = await api(`/api/items/${item.id}/export`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ...regionsToSend(edits), style: edits.style, shape: edits.shape, keep_audio: edits.keepAudio,
        fixes: edits.fixes || [], cover: coversToSend(edits, item) }),
    });
    edits.changed = false;
    S.byId[updated.id] = updated;
    S.items = S.items.map((it) => (it.id === updated.id ? updated : it));
  } catch (e) {
    showResult("bad", t("result.could_not_export"), [e.message]);
  } finally {
    S.exporting = false;
    S.shownSignature = null;
    $("export").disabled = false;
  }
  renderGrid();
  renderEditorStatus();
}

function showResult(kind, title, lines, extra) {
  const box = $("result");
  box.hidden = false;
  box.className = `result ${kind}`;
  box.textContent = "";
  const h = document.createElement("h3");
  h.textContent = title;
  box.appendChild(h);
  if (lines.length) {
    const ul = document.createElement("ul");
    for (const line of lines) {
      const li = document.createElement("li");
      li.textContent = line;
      ul.appendChild(li);
    }
    box.appendChild(ul);
  }
  for (const node of [].concat(extra || [])) box.appendChild(node);
}

function renderEditorStatus() {
  const item = currentItem();
  if (!item) return;
  const index = S.items.findIndex((it) => it.id === item.id);
  $("file-title").textContent = t("editor.file_title", { name: item.name, n: index + 1, total: S.items.length });
  $("export").disabled = S.exporting || busy(item) || item.status === "error";
  if (S.exporting) return;
  // Polling calls this every few seconds: rebuild only what changed (a link being clicked must stay put).
  const signature = JSON.stringify([item.id, item.status, item.export, item.progress, item.width, item.result_frames,
    (item.review || []).length, S.showResult, $("result").dataset.stale || "", I18N.language]);
  if (signature === S.shownSignature && $("photo")) return;
  const rebuild = S.shownSignature && JSON.parse(S.shownSignature)[6] !== (item.review || []).length;
  S.shownSignature = signature;
  renderMeta(item);
  const exp = item.export;
  if (item.status === "exporting") {
    showResult("busy", t("result.exporting"), []);
  } else if (item.status === "error") {
    showResult("bad", t("editor.unusable"), [], errorNode(plainError(item.error_kind, item.message, item.hint, item.hint_is_default)));
  } else if (exp && exp.passed) {
    const link = document.createElement("p");
    const a = document.createElement("a");
    a.href = "#";
    a.textContent = t("result.download", { name: exp.file_name });
    a.id = "download";
    a.addEventListener("click", (e) => {
      e.preventDefault();
      download(`/api/items/${item.id}/download`, exp.file_name).catch((err) => showResult("bad", t("result.could_not_download"), [err.message]));
    });
    link.appendChild(a);
    if (item.has_result) {
      const toggle = document.createElement("button");
      toggle.className = "button";
      toggle.id = "toggle-result";
      toggle.textContent = S.showResult ? t("result.back_to_boxes") : t("result.show_copy");
      toggle.addEventListener("click", toggleResult);
      link.append(" ", toggle);
    }
    const lines = [
      t("result.saved_as", { name: exp.file_name }),
      t("result.regions_covered", { n: exp.faces_covered }),
      exp.metadata_removed.length ? t("result.removed", { kinds: kindsText(exp.metadata_removed) }) : t("result.nothing_removed"),
      ...exp.checks.map((c) => `✓ ${libraryTerm("check", c.name)}`),
      ...exp.notes,
    ];
    if ($("result").dataset.stale) lines.unshift(t("result.stale"));
    showResult("ok", t("result.verified"), lines, link);
  } else if (exp && !exp.passed) {
    const lines = [];
    for (const c of exp.checks) lines.push(`${c.passed ? "✓" : "✗"} ${libraryTerm("check", c.name)}${c.detail ? ": " + c.detail : ""}`);
    showResult("bad", exp.verification ? t("result.refused_verification") : t("result.refused"), lines,
      errorNode(plainError(exp.kind, exp.message, exp.hint, exp.hint_is_default)));
  } else if (item.status === "waiting" || item.status === "analysing") {
    showResult("busy", t("result.looking"), []);
  } else {
    $("result").hidden = true;
  }
  if ((item.width && !$("photo")) || rebuild) buildCanvas();  // the file finished analysing while open
  if (item.media === "video") renderVideo(item);
}

function renderMeta(item) {
  const box = $("meta-info");
  box.textContent = "";
  if (!item.metadata_kinds) return;
  const h = document.createElement("h2");
  h.textContent = t("meta.title");
  const p = document.createElement("p");
  p.className = "small";
  p.textContent = item.metadata_kinds.length ? t("meta.found", { kinds: kindsText(item.metadata_kinds) }) : t("meta.none");
  box.append(h, p);
}

function renderVideo(item) {
  const bar = $("progress");
  const p = item.progress;
  bar.hidden = item.status !== "exporting" && !(item.status === "exported" && p);
  if (p) {
    const share = p[1] ? Math.min(1, p[0] / p[1]) : 0;
    $("progress-bar").style.width = `${Math.round(share * 100)}%`;
    $("progress-text").textContent = !p[0] ? t("video.starting") : p[1] ? t("video.frames_of", { n: p[0], total: p[1] }) : t("video.frames", { n: p[0] });
    if (item.status === "exported") { $("progress-bar").style.width = "100%"; $("progress-text").textContent = t("video.done"); }
  }
  $("video-note").hidden = item.status === "exported";
  renderScrubber(item);
  const video = $("result-video");
  if (item.status === "exported" && video.dataset.item !== item.id) {
    video.dataset.item = item.id;
    blobUrl(`/api/items/${item.id}/download`).then((url) => {
      if (video.dataset.item !== item.id) { URL.revokeObjectURL(url); return; }
      const old = video.getAttribute("src");
      video.src = url;
      video.hidden = false;
      if (old && old.startsWith("blob:")) URL.revokeObjectURL(old);
    }).catch(() => {});
  } else if (item.status !== "exported") {
    video.hidden = true;
    video.removeAttribute("src");
    delete video.dataset.item;
  }
  const frames = $("frames");
  if (item.status === "exported" && item.result_frames && frames.dataset.item !== item.id) {
    frames.textContent = "";
    frames.dataset.item = item.id;
    for (let n = 0; n < item.result_frames; n++) {
      const fig = document.createElement("figure");
      const img = new Image();
      showImage(img, "src", `/api/items/${item.id}/frames/${n}`);
      img.alt = t("video.sample_alt", { n: n + 1 });
      const cap = document.createElement("figcaption");
      cap.textContent = t("video.sample", { n: n + 1 });
      fig.append(img, cap);
      frames.appendChild(fig);
    }
  } else if (item.status !== "exported") {
    frames.textContent = "";
    delete frames.dataset.item;
  }
}

function renderScrubber(item) {
  const review = item.review || [];
  $("scrubber").hidden = !review.length;
  if (!review.length) return;
  const scrub = $("scrub");
  scrub.max = String(review.length - 1);
  S.scrubIndex = Math.min(S.scrubIndex, review.length - 1);
  scrub.value = String(S.scrubIndex);
  const frame = review[S.scrubIndex];
  $("scrub-text").textContent = t("video.scrub_at", { frame: frame.frame + 1, total: item.frames_total, regions: frame.regions.length });
}

function onScrub() {
  const item = currentItem();
  if (!item || !item.review || !item.review.length) return;
  S.scrubIndex = Number($("scrub").value);
  const photo = $("photo");
  if (photo) showImage(photo, "href", `/api/items/${item.id}/review/${S.scrubIndex}`);
  renderRegions();
  renderScrubber(item);
}

function toggleResult() {
  const item = currentItem();
  if (!item || !item.has_result) return;
  S.showResult = !S.showResult;
  buildCanvas();
  renderEditorStatus();
}

// ---- editor: text and bodies ---------------------------------------------------------------
// Text (plates, signs, badges) is looked for when asked, once per photo; what is found is added as
// suggestions of their own colour, covered as ``--cover text`` covers them; a click clears one.
async function setCoverText(on) {
  const item = currentItem();
  if (!item || item.media !== "photo") return;
  const edits = editsFor(item);
  const box = $("cover-text");
  let found = [];
  if (on) {
    found = item.text;
    if (!found) {
      $("text-status").textContent = t("text.looking");
      box.disabled = true;
      try {
        const updated = await api(`/api/items/${item.id}/text`, { method: "POST" });
        S.byId[updated.id] = updated;
        S.items = S.items.map((it) => (it.id === updated.id ? updated : it));
        found = updated.text || [];
      } catch (e) {
        if (S.current === item.id) { box.checked = false; $("text-status").textContent = e.message; }
        return;
      } finally {
        box.disabled = false;
      }
    }
  }
  // One undo step: the setting and its suggestions together (the page may have moved on to another file).
  if (S.current === item.id) remember();
  edits.coverText = on;
  edits.regions = edits.regions.filter((r) => r.kind !== "text");
  if (on) {
    for (const f of found) {
      edits.regions.push({ box: f.box.slice(), found: f.box.slice(), kind: "text", source: f.source, score: f.score, removed: false });
    }
  }
  S.selected = -1;
  if (S.current !== item.id) return;
  $("text-status").textContent = !on ? "" : found.length ? t("text.found", { n: found.length }) : t("text.none");
  markEdited();
  renderRegions();
}

function setCoverBodies(on) {
  const item = currentItem();
  if (!item) return;
  editsFor(item).coverBodies = on;
  markEdited();
  renderRegions();
}

function setPersonTool(on) {
  S.personTool = on === undefined ? !S.personTool : on;
  const button = $("person-tool");
  button.setAttribute("aria-pressed", S.personTool ? "true" : "false");
  button.classList.toggle("pressed", S.personTool);
  $("canvas").classList.toggle("person-tool", S.personTool);
}

function toggleAsExported(value) {
  S.asExported = value === undefined ? !S.asExported : value;
  $("as-exported").checked = S.asExported;
  renderRegions();
}

// ---- keyboard ------------------------------------------------------------------------------
function onKey(event) {
  if (S.view !== "editor" || event.target.tagName === "SELECT" || event.target.tagName === "INPUT" && event.target.type !== "checkbox") return;
  const item = currentItem();
  const key = event.key;
  if ((event.ctrlKey || event.metaKey) && !event.altKey) {
    const lower = key.toLowerCase();
    if (lower === "z") undoRedo(event.shiftKey);
    else if (lower === "y") undoRedo(true);
    else return;
    event.preventDefault();
    return;
  }
  if (event.altKey || event.metaKey) return;
  const zoomed = item && item.width && zoomedIn(item);
  const [w, h] = stageSize();
  if (key === " ") {
    S.spaceDown = true;  // Space + drag pans
  } else if (key === "Enter" && S.selected >= 0 && item.media === "photo") {
    const region = editsFor(item).regions[S.selected];
    if (region && !drawn(region)) { remember(); region.removed = !region.removed; markEdited(); renderRegions(); announceSelection(); }
  } else if (key === "+" || key === "=") zoomBy(1.5);
  else if (key === "-" || key === "_") zoomBy(1 / 1.5);
  else if (key === "0") zoomTo("fit");
  else if (key === "1") zoomTo(1);
  else if (zoomed && key === "ArrowLeft") panBy(-w * PAN_STEP, 0);
  else if (zoomed && key === "ArrowRight") panBy(w * PAN_STEP, 0);
  else if (zoomed && key === "ArrowUp") panBy(0, -h * PAN_STEP);
  else if (zoomed && key === "ArrowDown") panBy(0, h * PAN_STEP);
  else if (key === "ArrowRight" || key === "n" || key === "N" || key === "PageDown") step(1);
  else if (key === "ArrowLeft" || key === "p" || key === "P" || key === "PageUp") step(-1);
  else if (key === "Escape") closeEditor();
  else if (key === "e" || key === "E") exportCurrent();
  else if (key === "r" || key === "R") toggleResult();
  else if (key === "v" || key === "V") toggleAsExported();
  else if ((key === "Delete" || key === "Backspace" || key === "x") && S.selected >= 0) {
    const region = editsFor(item).regions[S.selected];
    if (region && !region.removed) { remember(); removeOrRestore(S.selected); }
    markEdited();
    renderRegions();
    announceSelection();
  } else if (key === "Tab" && item.media === "photo") {
    const regions = editsFor(item).regions;
    const n = regions.length;
    if (n) {
      S.selected = ((S.selected + (event.shiftKey ? -1 : 1)) % n + n) % n;
      keepInView(regions[S.selected].box);
    }
    renderRegions();
    announceSelection();
  } else return;
  event.preventDefault();
}

// ---- start ---------------------------------------------------------------------------------
async function start() {
  // Before anything is awaited: a file dropped while the catalog loads is taken, not opened by
  // the browser in place of the page.
  if (PAGE_KEY) setUpDropZone();
  try {
    await loadCatalog(sessionStorage.getItem(LANG_STORE) || "");
  } catch (e) { /* the page's English stays */ }
  $("language").addEventListener("change", (e) => { switchLanguage(e.target.value).catch(() => {}); e.target.blur(); });
  if (!PAGE_KEY) {
    $("no-access").hidden = false;
    $("grid-view").hidden = true;
    return;
  }
  const svg = $("canvas");
  svg.addEventListener("pointerdown", onPointerDown);
  svg.addEventListener("pointermove", onPointerMove);
  svg.addEventListener("pointerup", onPointerUp);
  svg.addEventListener("pointercancel", (e) => { S.pointers.delete(e.pointerId); S.pinch = null; S.drag = null; renderRegions(); });
  svg.addEventListener("wheel", onWheel, { passive: false });
  window.addEventListener("resize", () => { if (S.view === "editor") { applyZoom(); renderRegions(); } });
  document.addEventListener("keydown", onKey);
  document.addEventListener("keyup", (e) => { if (e.key === " ") S.spaceDown = false; });
  $("back").addEventListener("click", closeEditor);
  $("home-link").addEventListener("click", (e) => { e.preventDefault(); closeEditor(); });
  $("prev").addEventListener("click", () => step(-1));
  $("next").addEventListener("click", () => step(1));
  $("export").addEventListener("click", exportCurrent);
  $("export-all").addEventListener("click", exportAll);
  $("undo").addEventListener("click", () => undoRedo(false));
  $("redo").addEventListener("click", () => undoRedo(true));
  $("no-faces").addEventListener("click", noFacesHere);
  $("zoom-in").addEventListener("click", () => zoomBy(1.5));
  $("zoom-out").addEventListener("click", () => zoomBy(1 / 1.5));
  $("zoom-fit").addEventListener("click", () => zoomTo("fit"));
  $("zoom-actual").addEventListener("click", () => zoomTo(1));
  $("as-exported").addEventListener("change", (e) => { toggleAsExported(e.target.checked); e.target.blur(); });
  $("scrub").addEventListener("input", onScrub);
  $("cover-text").addEventListener("change", (e) => { setCoverText(e.target.checked).catch(() => {}); e.target.blur(); });
  $("cover-bodies").addEventListener("change", (e) => { setCoverBodies(e.target.checked); e.target.blur(); });
  $("person-tool").addEventListener("click", (e) => { setPersonTool(); e.currentTarget.blur(); });
  $("keep-audio").addEventListener("change", (e) => {
    const item = currentItem();
    if (item) editsFor(item).keepAudio = e.target.checked;
  });
  for (const id of ["style", "shape"]) {
    $(id).addEventListener("change", () => {
      const item = currentItem();
      if (item) { editsFor(item)[id] = $(id).value; markEdited(); renderRegions(); }
      $(id).blur();
    });
  }
  document.body.dataset.ready = "1";  // every control answers now (tests wait for it)
  pollForever();
}

document.addEventListener("DOMContentLoaded", start);
