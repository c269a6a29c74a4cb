// crowdveil studio: the page. Plain JS, no libraries, talks only to the studio itself.
// Regions are kept in the upright image's own pixel coordinates; the SVG's viewBox is the
// image size, so the browser does the scaling.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const CLICK_SLOP_PX = 4;      // a press that moves less than this (on screen) is a click
const MIN_REGION_PX = 4;      // smaller drawn boxes are ignored (in image pixels)
const HANDLE_PX = 12;         // corner handle size on screen

const S = {
  items: [], byId: {}, outDir: "", defaults: {}, maxUpload: 0,
  view: "grid", current: null, edits: {}, selected: -1, showResult: false,
  exporting: false, cards: {}, drag: null, uploads: 0,
};
const $ = (id) => document.getElementById(id);

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
    const message = (body && body.error) || `the studio answered ${response.status}`;
    throw new Error(message);
  }
  return body;
}

function send(path, options = {}) {
  const headers = { ...(options.headers || {}), "X-Crowdveil-Key": PAGE_KEY };
  return fetch(path, { credentials: "same-origin", ...options, headers });
}

// Images and downloads go through fetch too (an <img src> cannot send the key); what the page
// shows is a blob: URL of the bytes fetched.
async function blobUrl(path) {
  const response = await send(path);
  if (!response.ok) throw new Error(`the studio answered ${response.status}`);
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
  S.outDir = state.out_dir;
  S.defaults = state.defaults;
  S.maxUpload = state.max_upload_bytes;
  $("out-dir").textContent = S.outDir;
  renderGrid();
  if (S.view === "editor") renderEditorStatus();
}

function busy(item) { return ["waiting", "analysing", "exporting"].includes(item.status); }

async function pollForever() {
  for (;;) {
    try { await refresh(); } catch (e) { /* the studio may be restarting; try again */ }
    const anyBusy = S.items.some(busy) || S.uploads > 0;
    await new Promise((r) => setTimeout(r, anyBusy ? 500 : 2500));
  }
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
    note.textContent = `Adding ${file.name} (${done + 1} of ${list.length})…`;
    try {
      if (S.maxUpload && file.size > S.maxUpload) {
        throw new Error(`too large (the studio accepts up to ${Math.round(S.maxUpload / 1048576)} MiB per file)`);
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
  note.textContent = refused.length ? `Not added: ${refused.join("; ")}` : `Added ${done} file(s).`;
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
  if (item.status === "waiting") return [["busy", "Waiting…"]];
  if (item.status === "analysing") return [["busy", "Looking for faces and hidden information…"]];
  if (item.status === "error") return [["bad", `Cannot be used: ${item.message}`]];
  if (item.media === "photo") {
    const n = item.face_count;
    lines.push(["", n === 0 ? "No faces found" : n === 1 ? "1 face found" : `${n} faces found`]);
  } else {
    lines.push(["", "Video: faces are found while exporting"]);
  }
  lines.push(["", item.metadata_kinds.length
    ? `Hidden information: ${item.metadata_kinds.join(", ")}`
    : "No hidden information found"]);
  if (item.status === "exporting") {
    const p = item.progress;
    lines.push(["busy", p && p[1] ? `Exporting… ${Math.round(100 * p[0] / p[1])}%` : "Exporting…"]);
  } else if (item.status === "exported") {
    lines.push(["ok", "✓ Exported and verified"]);
  } else if (item.status === "refused") {
    lines.push(["bad", "✗ Refused: not saved (open to see why)"]);
  } else {
    lines.push(["", "Not exported yet"]);
  }
  return lines;
}

function renderGrid() {
  const grid = $("grid");
  $("empty-note").hidden = S.items.length > 0;
  for (const item of S.items) {
    let card = S.cards[item.id];
    if (!card) {
      card = document.createElement("li");
      card.className = "card";
      card.tabIndex = 0;
      card.dataset.id = item.id;
      card.innerHTML = '<div class="thumb">…</div><div class="card-body"><div class="card-name"></div><div class="lines"></div></div>';
      card.querySelector(".card-name").textContent = item.name;
      card.addEventListener("click", () => openEditor(item.id));
      card.addEventListener("keydown", (e) => { if (e.key === "Enter") openEditor(item.id); });
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
    }
    card.dataset.status = item.status;
    const lines = card.querySelector(".lines");
    lines.textContent = "";
    for (const [cls, text] of statusLines(item)) {
      const p = document.createElement("p");
      p.className = `status ${cls}`;
      p.textContent = text;
      lines.appendChild(p);
    }
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
      regions = item.faces.map((f) => ({ box: f.box.slice(), found: f.box.slice(), kind: f.kind || "face", source: f.source, score: f.score, removed: false }));
    }
    S.edits[item.id] = { regions, style: item.style || S.defaults.style, shape: item.shape || S.defaults.shape };
  }
  return S.edits[item.id];
}

function currentItem() { return S.current ? S.byId[S.current] : null; }

function openEditor(id) {
  S.current = id;
  S.selected = -1;
  S.showResult = false;
  S.shownSignature = null;
  S.view = "editor";
  $("grid-view").hidden = true;
  $("editor-view").hidden = false;
  const item = currentItem();
  const edits = editsFor(item);
  $("style").value = edits.style;
  $("shape").value = edits.shape;
  buildCanvas();
  renderEditorStatus();
}

function closeEditor() {
  S.view = "grid";
  S.current = null;
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

// ---- editor: drawing -----------------------------------------------------------------------
function el(name, attrs = {}) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function buildCanvas() {
  const item = currentItem();
  const svg = $("canvas");
  svg.textContent = "";
  const isVideo = item.media === "video";
  $("video-panel").hidden = !isVideo;
  $("photo-help").hidden = isVideo;
  $("shape").disabled = false;
  svg.hidden = false;
  if (!item.width || !item.height) {
    svg.setAttribute("viewBox", "0 0 400 300");
    svg.appendChild(el("text", { x: 200, y: 150, "text-anchor": "middle", class: "tag" })).textContent =
      item.status === "error" ? "This file cannot be used" : "Still looking at this file…";
    return;
  }
  svg.setAttribute("viewBox", `0 0 ${item.width} ${item.height}`);
  const path = S.showResult && item.has_result ? `/api/items/${item.id}/result?t=${Date.now()}` : `/api/items/${item.id}/preview`;
  const photo = el("image", { x: 0, y: 0, width: item.width, height: item.height, id: "photo", preserveAspectRatio: "none" });
  svg.appendChild(photo);
  showImage(photo, "href", path);
  svg.appendChild(el("g", { id: "regions" }));
  if (isVideo) { svg.style.height = "40vh"; } else { svg.style.height = ""; }
  renderRegions();
}

function unitsPerScreenPx() {
  const svg = $("canvas");
  const ctm = svg.getScreenCTM();
  return ctm ? 1 / ctm.a : 1;
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

function renderRegions() {
  const item = currentItem();
  const group = $("regions");
  if (!group || item.media !== "photo") return;
  group.textContent = "";
  if (S.showResult && item.has_result) { updateCount(); return; }  // the result shows the painted copy only
  const edits = editsFor(item);
  const k = unitsPerScreenPx();
  edits.regions.forEach((r, i) => {
    const [x1, y1, x2, y2] = r.box;
    const classes = ["region", r.kind === "manual" ? "manual" : "face"];
    if (r.removed) classes.push("removed");
    if (i === S.selected) classes.push("selected");
    const rect = el("rect", {
      x: x1, y: y1, width: x2 - x1, height: y2 - y1, class: classes.join(" "),
      "data-index": i, "data-box": r.box.map((v) => Math.round(v)).join(","), "vector-effect": "non-scaling-stroke",
    });
    const title = el("title");
    title.textContent = r.removed ? "left visible: click to cover it again"
      : r.kind === "manual" ? "drawn by you: click to delete, drag to move" : "face: click to leave it visible";
    rect.appendChild(title);
    group.appendChild(rect);
    if (r.removed) {
      const tag = el("text", { x: x1 + 4 * k, y: y1 - 6 * k, class: "tag", "font-size": 13 * k, "stroke-width": 3 * k });
      tag.textContent = "visible";
      group.appendChild(tag);
    } else if (i === S.selected || r.kind === "manual" || edits.regions.length < 60) {
      for (const [corner, cx, cy] of [["nw", x1, y1], ["ne", x2, y1], ["sw", x1, y2], ["se", x2, y2]]) {
        group.appendChild(el("rect", {
          x: cx - (HANDLE_PX / 2) * k, y: cy - (HANDLE_PX / 2) * k, width: HANDLE_PX * k, height: HANDLE_PX * k,
          class: `handle ${corner}`, "data-index": i, "data-corner": corner, "vector-effect": "non-scaling-stroke",
        }));
      }
    }
  });
  updateCount();
}

function updateCount() {
  const item = currentItem();
  if (!item || item.media !== "photo") return;
  const regions = editsFor(item).regions;
  const covered = regions.filter((r) => !r.removed).length;
  const visible = regions.length - covered;
  $("region-count").textContent = `${covered} box(es) will be covered` + (visible ? `, ${visible} left visible.` : ".");
}

// ---- editor: mouse -------------------------------------------------------------------------
function onPointerDown(event) {
  const item = currentItem();
  if (!item || item.media !== "photo" || !item.width || S.exporting || event.button !== 0) return;
  if (S.showResult) { toggleResult(); return; }
  const target = event.target;
  const start = toImage(event);
  const edits = editsFor(item);
  const index = target.dataset && target.dataset.index !== undefined ? Number(target.dataset.index) : -1;
  S.drag = { start, screen: [event.clientX, event.clientY], index, moved: false };
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
  const drag = S.drag;
  if (!drag) return;
  const dx = event.clientX - drag.screen[0];
  const dy = event.clientY - drag.screen[1];
  if (!drag.moved && Math.hypot(dx, dy) < CLICK_SLOP_PX) return;
  drag.moved = true;
  const item = currentItem();
  const edits = editsFor(item);
  const [x, y] = toImage(event);
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
  const drag = S.drag;
  if (!drag) return;
  S.drag = null;
  const item = currentItem();
  const edits = editsFor(item);
  if (drag.mode === "draw") {
    const draft = $("draft");
    if (draft) draft.remove();
    if (drag.moved) {
      const [x, y] = toImage(event);
      const [sx, sy] = drag.start;
      const box = [Math.min(sx, x), Math.min(sy, y), Math.max(sx, x), Math.max(sy, y)];
      if (box[2] - box[0] >= MIN_REGION_PX && box[3] - box[1] >= MIN_REGION_PX) {
        edits.regions.push({ box, kind: "manual", source: "studio", score: 1, removed: false });
        S.selected = edits.regions.length - 1;
      }
    } else {
      S.selected = -1;
    }
  } else if (drag.mode === "resize") {
    const b = edits.regions[drag.index].box;
    edits.regions[drag.index].box = [Math.min(b[0], b[2]), Math.min(b[1], b[3]), Math.max(b[0], b[2]), Math.max(b[1], b[3])];
  } else if (!drag.moved) {
    removeOrRestore(drag.index);
  }
  markEdited();
  renderRegions();
}

function removeOrRestore(index) {
  const edits = editsFor(currentItem());
  const region = edits.regions[index];
  if (!region) return;
  if (region.kind === "manual") {
    edits.regions.splice(index, 1);
    S.selected = -1;
  } else {
    region.removed = !region.removed;
  }
}

function markEdited() {
  const item = currentItem();
  if (item && ["exported", "refused"].includes(item.status)) {
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
  const kept = edits.regions.filter((r) => !r.removed).map(({ box, kind, source, score }) => ({ box, kind, source, score }));
  // A face left visible is the face as it was found (the studio accepts no other box for it).
  const removed = edits.regions.filter((r) => r.removed).map(({ box, found, kind, source, score }) => ({ box: found || box, kind, source, score }));
  S.exporting = true;
  delete $("result").dataset.stale;
  showResult("busy", item.media === "video" ? "Exporting the video…" : "Exporting and checking the result…", []);
  $("export").disabled = true;
  try {
    const updated = await api(`/api/items/${item.id}/export`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ regions: kept, removed, style: edits.style, shape: edits.shape }),
    });
    S.byId[updated.id] = updated;
    S.items = S.items.map((it) => (it.id === updated.id ? updated : it));
  } catch (e) {
    showResult("bad", "Could not export", [e.message]);
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
  if (extra) box.appendChild(extra);
}

function renderEditorStatus() {
  const item = currentItem();
  if (!item) return;
  const index = S.items.findIndex((it) => it.id === item.id);
  $("file-title").textContent = `${item.name} (${index + 1} of ${S.items.length})`;
  $("export").disabled = S.exporting || busy(item) || item.status === "error";
  if (S.exporting) return;
  // Polling calls this every few seconds: rebuild only what changed (a link being clicked must stay put).
  const signature = JSON.stringify([item.id, item.status, item.export, item.progress, item.width, item.result_frames,
    S.showResult, $("result").dataset.stale || ""]);
  if (signature === S.shownSignature && $("photo")) return;
  S.shownSignature = signature;
  renderMeta(item);
  const exp = item.export;
  if (item.status === "exporting") {
    showResult("busy", "Exporting…", []);
  } else if (item.status === "error") {
    showResult("bad", "This file cannot be used", [item.message, item.hint ? `What to do: ${item.hint}` : ""].filter(Boolean));
  } else if (exp && exp.passed) {
    const link = document.createElement("p");
    const a = document.createElement("a");
    a.href = "#";
    a.textContent = `Download ${exp.file_name}`;
    a.id = "download";
    a.addEventListener("click", (e) => {
      e.preventDefault();
      download(`/api/items/${item.id}/download`, exp.file_name).catch((err) => showResult("bad", "Could not download", [err.message]));
    });
    link.appendChild(a);
    if (item.has_result) {
      const toggle = document.createElement("button");
      toggle.className = "button";
      toggle.id = "toggle-result";
      toggle.textContent = S.showResult ? "Back to the boxes (R)" : "Show the exported copy (R)";
      toggle.addEventListener("click", toggleResult);
      link.append(" ", toggle);
    }
    const lines = [
      `Saved as ${exp.file_name} in the output folder`,
      `${exp.faces_covered} region(s) covered`,
      exp.metadata_removed.length ? `Removed: ${exp.metadata_removed.join(", ")}` : "No hidden information to remove",
      ...exp.checks.map((c) => `✓ ${c.name}`),
      ...exp.notes,
    ];
    if ($("result").dataset.stale) lines.unshift("You changed boxes since: export again to save the changes.");
    showResult("ok", "✓ Verified and saved", lines, link);
  } else if (exp && !exp.passed) {
    const lines = [exp.message];
    if (exp.hint) lines.push(`What to do: ${exp.hint}`);
    for (const c of exp.checks) lines.push(`${c.passed ? "✓" : "✗"} ${c.name}${c.detail ? ": " + c.detail : ""}`);
    showResult("bad", exp.verification ? "✗ Refused: verification failed, nothing was saved" : "✗ Refused: nothing was saved", lines);
  } else if (item.status === "waiting" || item.status === "analysing") {
    showResult("busy", "Looking for faces…", []);
  } else {
    $("result").hidden = true;
  }
  if (item.width && !$("photo")) buildCanvas();  // the file finished analysing while open
  if (item.media === "video") renderVideo(item);
}

function renderMeta(item) {
  const box = $("meta-info");
  box.textContent = "";
  if (!item.metadata_kinds) return;
  const h = document.createElement("h2");
  h.textContent = "Hidden information in the original";
  const p = document.createElement("p");
  p.className = "small";
  p.textContent = item.metadata_kinds.length
    ? `${item.metadata_kinds.join(", ")}. None of it is copied into the export.`
    : "None found. The export is written fresh either way.";
  box.append(h, p);
}

function renderVideo(item) {
  const bar = $("progress");
  const p = item.progress;
  bar.hidden = item.status !== "exporting" && !(item.status === "exported" && p);
  if (p) {
    const share = p[1] ? Math.min(1, p[0] / p[1]) : 0;
    $("progress-bar").style.width = `${Math.round(share * 100)}%`;
    $("progress-text").textContent = !p[0] ? "starting…" : p[1] ? `${p[0]} of ${p[1]} frames` : `${p[0]} frames`;
    if (item.status === "exported") { $("progress-bar").style.width = "100%"; $("progress-text").textContent = "done"; }
  }
  const frames = $("frames");
  if (item.status === "exported" && item.result_frames && frames.dataset.item !== item.id) {
    frames.textContent = "";
    frames.dataset.item = item.id;
    for (let n = 0; n < item.result_frames; n++) {
      const fig = document.createElement("figure");
      const img = new Image();
      showImage(img, "src", `/api/items/${item.id}/frames/${n}`);
      img.alt = `frame ${n + 1} of the exported video`;
      const cap = document.createElement("figcaption");
      cap.textContent = `exported video, sample ${n + 1}`;
      fig.append(img, cap);
      frames.appendChild(fig);
    }
  } else if (item.status !== "exported") {
    frames.textContent = "";
    delete frames.dataset.item;
  }
}

function toggleResult() {
  const item = currentItem();
  if (!item || !item.has_result) return;
  S.showResult = !S.showResult;
  buildCanvas();
  renderEditorStatus();
}

// ---- keyboard ------------------------------------------------------------------------------
function onKey(event) {
  if (S.view !== "editor" || event.target.tagName === "SELECT" || event.ctrlKey || event.metaKey || event.altKey) return;
  const item = currentItem();
  const key = event.key;
  if (key === "ArrowRight" || key === "n") step(1);
  else if (key === "ArrowLeft" || key === "p") step(-1);
  else if (key === "Escape") closeEditor();
  else if (key === "e" || key === "E") exportCurrent();
  else if (key === "r" || key === "R") toggleResult();
  else if ((key === "Delete" || key === "Backspace" || key === "x") && S.selected >= 0) {
    const region = editsFor(item).regions[S.selected];
    if (region && !region.removed) removeOrRestore(S.selected);
    markEdited();
    renderRegions();
  } else if (key === "Tab" && item.media === "photo") {
    const n = editsFor(item).regions.length;
    if (n) S.selected = ((S.selected + (event.shiftKey ? -1 : 1)) % n + n) % n;
    renderRegions();
  } else return;
  event.preventDefault();
}

// ---- start ---------------------------------------------------------------------------------
function start() {
  if (!PAGE_KEY) {
    $("no-access").hidden = false;
    $("grid-view").hidden = true;
    return;
  }
  setUpDropZone();
  const svg = $("canvas");
  svg.addEventListener("pointerdown", onPointerDown);
  svg.addEventListener("pointermove", onPointerMove);
  svg.addEventListener("pointerup", onPointerUp);
  svg.addEventListener("pointercancel", () => { S.drag = null; renderRegions(); });
  window.addEventListener("resize", () => { if (S.view === "editor") renderRegions(); });
  document.addEventListener("keydown", onKey);
  $("back").addEventListener("click", closeEditor);
  $("home-link").addEventListener("click", (e) => { e.preventDefault(); closeEditor(); });
  $("prev").addEventListener("click", () => step(-1));
  $("next").addEventListener("click", () => step(1));
  $("export").addEventListener("click", exportCurrent);
  for (const id of ["style", "shape"]) {
    $(id).addEventListener("change", () => {
      const item = currentItem();
      if (item) { editsFor(item)[id] = $(id).value; markEdited(); }
      $(id).blur();
    });
  }
  pollForever();
}

document.addEventListener("DOMContentLoaded", start);
