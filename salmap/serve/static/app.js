// salmap's page: plain JavaScript, no build step, nothing fetched from outside this server.
// The maps come from /api/v1/saliency (the float32 density as .npy), the crops from
// /api/v1/crop; overlay, fog and region shares are computed here from the density so that
// they follow the sliders and the mouse without another request.
"use strict";

const API = "/api/v1";
const REGION_COLOURS = ["#2f6fed", "#12b76a", "#f79009", "#ee46bc", "#06aed4", "#875bf7"];

const state = {
  items: [],          // {id, name, file, url, status, error, img, w, h, density, max, sat, summary, crops, regions}
  current: null,
  view: "overlay",
  alpha: 0.7,
  colormap: null,
  tables: {},
  cropColours: [],
  scale: "mass",
  fog: { clear: 0.75, floor: 0.2 },
  token: sessionStorage.getItem("salmap-token") || "",
  selectedRegion: -1,
};
let nextId = 1;
const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- requests
function authHeaders() {
  return state.token ? { Authorization: `Bearer ${state.token}` } : {};
}

async function api(path, file, extra = {}) {
  const body = new FormData();
  body.append("image", file, file.name);
  for (const [k, v] of Object.entries(extra)) body.append(k, v);
  const r = await fetch(API + path, { method: "POST", body, headers: authHeaders() });
  if (!r.ok) {
    let message = `${r.status} ${r.statusText}`;
    try { message = (await r.json()).error || message; } catch (e) { /* not JSON */ }
    if (r.status === 401) $("token-form").hidden = false;
    const err = new Error(message);
    err.status = r.status;
    throw err;
  }
  return r;
}

function parseNpy(buffer) {
  // .npy version 1/2: magic, version, header length, a Python dict literal, then the data
  const bytes = new Uint8Array(buffer);
  const major = bytes[6];
  const view = new DataView(buffer);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
  const shape = header.match(/'shape':\s*\((\d+),\s*(\d+)\)/);
  if (!header.includes("'<f4'") || !shape) throw new Error("unexpected map format from the server");
  const h = +shape[1], w = +shape[2];
  return { h, w, data: new Float32Array(buffer.slice(start + headerLen, start + headerLen + 4 * h * w)) };
}

// ---------------------------------------------------------------- numbers from the density
function summedArea(d, w, h) {
  // (h+1) x (w+1) table: sat[y][x] = sum of d above and left of (x, y)
  const W = w + 1;
  const sat = new Float64Array(W * (h + 1));
  for (let y = 0; y < h; y++) {
    let row = 0;
    for (let x = 0; x < w; x++) {
      row += d[y * w + x];
      sat[(y + 1) * W + x + 1] = sat[y * W + x + 1] + row;
    }
  }
  return sat;
}

function boxShare(item, box) {
  const W = item.w + 1;
  const clamp = (v, hi) => Math.max(0, Math.min(hi, Math.round(v)));
  const x0 = clamp(Math.min(box[0], box[2]), item.w), x1 = clamp(Math.max(box[0], box[2]), item.w);
  const y0 = clamp(Math.min(box[1], box[3]), item.h), y1 = clamp(Math.max(box[1], box[3]), item.h);
  const s = item.sat;
  const total = s[item.h * W + item.w];
  return (s[y1 * W + x1] - s[y0 * W + x1] - s[y1 * W + x0] + s[y0 * W + x0]) / total;
}

function massLevels(item) {
  // each pixel's share of attention at or above its own level (0 at the peak, 1 at the least
  // looked-at pixel), from a fine histogram of the density
  const bins = 4096, d = item.density, n = d.length;
  const mass = new Float64Array(bins);
  const bin = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const b = Math.min(bins - 1, Math.floor((d[i] / item.max) * (bins - 1)));
    bin[i] = b;
    mass[b] += d[i];
  }
  const above = new Float64Array(bins);
  let acc = 0;
  for (let b = bins - 1; b >= 0; b--) { acc += mass[b]; above[b] = acc; }
  const levels = new Float32Array(n);
  for (let i = 0; i < n; i++) levels[i] = above[bin[i]] / acc;
  return levels;
}

// ---------------------------------------------------------------- drawing
function imagePixels(item) {
  if (!item.pixels) {
    const c = document.createElement("canvas");
    c.width = item.w; c.height = item.h;
    const g = c.getContext("2d");
    g.drawImage(item.img, 0, 0, item.w, item.h);
    item.pixels = g.getImageData(0, 0, item.w, item.h);
  }
  return item.pixels;
}

function renderView(item, view, alpha, colormap, scale = state.scale) {
  // ImageData of the chosen view at the image's resolution, drawn as salmap.viz draws it: the
  // heat of a pixel is 1 - its mass level ("mass": the share of attention at or above it) or
  // its value over the peak ("peak"); the fog keeps the region holding fog.clear of the
  // attention bright and dims the rest down to fog.floor. The map view is the raw map.
  const src = imagePixels(item).data;
  const out = new ImageData(item.w, item.h);
  const o = out.data, d = item.density, lut = state.tables[colormap];
  const inv = 1 / item.max;
  const mass = scale === "mass" && view === "overlay";
  if ((mass || view === "fog") && !item.levels) item.levels = massLevels(item);
  const levels = item.levels;
  const { clear, floor } = state.fog;
  for (let i = 0, p = 0; i < d.length; i++, p += 4) {
    if (view === "overlay") {
      const heat = mass ? 1 - levels[i] : d[i] * inv;
      const c = lut[Math.min(255, Math.round(heat * 255))];
      const a = alpha * (mass ? Math.min(1, 2 * heat) : heat);
      o[p] = (1 - a) * src[p] + a * c[0];
      o[p + 1] = (1 - a) * src[p + 1] + a * c[1];
      o[p + 2] = (1 - a) * src[p + 2] + a * c[2];
    } else if (view === "map") {
      const c = lut[Math.min(255, Math.round(d[i] * inv * 255))];
      o[p] = c[0]; o[p + 1] = c[1]; o[p + 2] = c[2];
    } else if (view === "fog") {
      const light = Math.min(1, Math.max(0, (1 - levels[i]) / (1 - clear)));
      const f = floor + (1 - floor) * light;
      o[p] = src[p] * f; o[p + 1] = src[p + 1] * f; o[p + 2] = src[p + 2] * f;
    } else {
      o[p] = src[p]; o[p + 1] = src[p + 1]; o[p + 2] = src[p + 2];
    }
    o[p + 3] = 255;
  }
  return out;
}

function grayMap(item) {
  const out = new ImageData(item.w, item.h);
  const inv = 255 / item.max;
  for (let i = 0, p = 0; i < item.density.length; i++, p += 4) {
    const v = Math.round(item.density[i] * inv);
    out.data[p] = out.data[p + 1] = out.data[p + 2] = v;
    out.data[p + 3] = 255;
  }
  return out;
}

function cropColour(i) {
  return state.cropColours[i % state.cropColours.length];
}

function fitCanvas() {
  // show the image as large as the stage allows (up to 2x its pixels), keeping its shape
  const c = $("canvas"), stage = c.parentElement;
  if (!c.width || stage.clientWidth === 0) return;
  const maxW = stage.clientWidth - 24, maxH = Math.max(240, window.innerHeight * 0.58);
  const s = Math.min(maxW / c.width, maxH / c.height, 2);
  c.style.width = `${Math.round(c.width * s)}px`;
  c.style.height = `${Math.round(c.height * s)}px`;
}

function pct(x) {
  return `${(100 * x).toFixed(x < 0.1 ? 1 : 0)}%`;
}

function drawLabel(g, text, x, y, colour, scale, dark = true) {
  g.font = `600 ${Math.round(13 * scale)}px system-ui, sans-serif`;
  const pad = 4 * scale, h = 18 * scale;
  const w = g.measureText(text).width + 2 * pad;
  g.fillStyle = colour;
  g.fillRect(x, y, w, h);
  g.fillStyle = dark ? "#fff" : "#111";
  g.fillText(text, x + pad, y + h - 5 * scale);
}

function draw() {
  const item = state.current;
  if (!item || !item.density) return;
  const canvas = $("canvas");
  if (canvas.width !== item.w || canvas.height !== item.h) { canvas.width = item.w; canvas.height = item.h; }
  fitCanvas();
  const key = `${state.view}|${state.alpha}|${state.colormap}|${state.scale}`;
  if (item.viewKey !== key) {
    item.viewData = renderView(item, state.view, state.alpha, state.colormap);
    item.viewKey = key;
  }
  const g = canvas.getContext("2d");
  g.putImageData(item.viewData, 0, 0);
  // canvas pixels per screen pixel: lines and labels keep their size on screen
  const scale = item.w / (parseFloat(canvas.style.width) || item.w);
  if ($("show-crops").checked && item.crops) {
    const shown = item.crops.map((c, i) => [c, i]).filter(([, i]) => item.focusCrop == null || item.focusCrop === i);
    if (item.focusCrop != null) {
      // one crop chosen: what it cuts away is dimmed
      const [x0, y0, x1, y1] = item.crops[item.focusCrop].box;
      g.fillStyle = "rgba(10,12,16,.6)";
      g.fillRect(0, 0, item.w, y0);
      g.fillRect(0, y1, item.w, item.h - y1);
      g.fillRect(0, y0, x0, y1 - y0);
      g.fillRect(x1, y0, item.w - x1, y1 - y0);
    }
    g.setLineDash(item.focusCrop == null ? [6 * scale, 4 * scale] : []);
    for (const [c, i] of shown) {
      const [x0, y0, x1, y1] = c.box;
      const inset = scale;
      g.lineWidth = 3 * scale;
      g.strokeStyle = "rgba(0,0,0,.45)";
      g.strokeRect(x0 + inset, y0 + inset, x1 - x0 - 2 * inset, y1 - y0 - 2 * inset);
      g.lineWidth = 1.5 * scale;
      g.strokeStyle = cropColour(i);
      g.strokeRect(x0 + inset, y0 + inset, x1 - x0 - 2 * inset, y1 - y0 - 2 * inset);
    }
    g.setLineDash([]);
    // labels stack down the top-left corner, so that boxes sharing a corner stay readable
    shown.forEach(([c, i], k) => drawLabel(g, `${c.aspect} ${pct(c.attention)}`, c.box[0] + 3 * scale, c.box[1] + (3 + 20 * k) * scale, cropColour(i), scale, false));
  }
  item.regions.forEach((r, i) => {
    const [x0, y0, x1, y1] = r.box;
    g.lineWidth = (i === state.selectedRegion ? 4 : 3) * scale;
    g.strokeStyle = r.colour;
    g.strokeRect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
    drawLabel(g, `${r.name} ${pct(boxShare(item, r.box))}`, Math.min(x0, x1), Math.max(y0, y1) - 18 * scale, r.colour, scale);
  });
  if (item.fold) drawFold(g, item, scale);
  listRegions();
}

// a long page's fold: the bottom of the first screenful, as `salmap predict` marks it
function drawFold(g, item, scale) {
  g.lineWidth = 2 * scale;
  for (const [colour, offset] of [["#fff", 0], ["#000", 8 * scale]]) {
    g.setLineDash([8 * scale, 8 * scale]);
    g.lineDashOffset = offset;
    g.strokeStyle = colour;
    g.beginPath(); g.moveTo(0, item.fold); g.lineTo(item.w, item.fold); g.stroke();
  }
  g.setLineDash([]); g.lineDashOffset = 0;
  drawLabel(g, "fold", item.w - 60 * scale, item.fold - 22 * scale, "#000", scale);
}

function listRegions() {
  const item = state.current;
  const ul = $("regions");
  ul.replaceChildren();
  if (!item || !item.regions.length) {
    const li = document.createElement("li");
    li.innerHTML = '<span class="hint" style="grid-column: 1 / 5">Drag a box over a logo, a headline or a button to see the share of attention it gets.</span>';
    ul.append(li);
    return;
  }
  item.regions.forEach((r, i) => {
    const share = boxShare(item, r.box);
    const li = document.createElement("li");
    li.className = i === state.selectedRegion ? "selected" : "";
    li.dataset.share = share.toFixed(6);
    li.innerHTML = `<span class="swatch" style="background:${r.colour}"></span><span>${r.name}</span>` +
      `<span class="share">${pct(share)}</span><button type="button" aria-label="Remove ${r.name}">×</button>` +
      `<span class="bar"><span style="width:${(100 * share).toFixed(1)}%;background:${r.colour}"></span></span>`;
    li.querySelector("button").onclick = () => { item.regions.splice(i, 1); state.selectedRegion = -1; draw(); };
    li.onclick = (e) => { if (e.target.tagName !== "BUTTON") { state.selectedRegion = i; draw(); } };
    ul.append(li);
  });
}

function drawCrops(item) {
  const box = $("crops");
  box.replaceChildren();
  (item.crops || []).forEach((c, i) => {
    const [x0, y0, x1, y1] = c.box;
    const fig = document.createElement("button");
    fig.type = "button";
    fig.className = "crop";
    fig.setAttribute("aria-pressed", item.focusCrop === i ? "true" : "false");
    fig.title = "Show this crop on the image (again: show all)";
    const cv = document.createElement("canvas");
    const s = Math.min(1, 360 / Math.max(x1 - x0, y1 - y0));
    cv.width = Math.max(1, Math.round((x1 - x0) * s));
    cv.height = Math.max(1, Math.round((y1 - y0) * s));
    cv.getContext("2d").drawImage(item.img, x0, y0, x1 - x0, y1 - y0, 0, 0, cv.width, cv.height);
    cv.setAttribute("aria-label", `${c.aspect} crop keeping ${pct(c.attention)} of the attention`);
    const cap = document.createElement("span");
    cap.className = "caption";
    cap.innerHTML = `<span><span class="swatch" style="background:${cropColour(i)}"></span>${c.aspect} · ${x1 - x0} × ${y1 - y0}</span><span>keeps <b>${pct(c.attention)}</b></span>`;
    fig.append(cv, cap);
    fig.onclick = () => {
      item.focusCrop = item.focusCrop === i ? null : i;
      $("show-crops").checked = true;
      draw();
      drawCrops(item);
      box.children[i].focus();
    };
    box.append(fig);
  });
}

function showStats(item) {
  const s = item.summary;
  if (!s) { $("stats").textContent = ""; return; }
  const a = s.area_for_attention;
  $("stats").innerHTML = `<span>${item.w} × ${item.h}</span>` +
    `<span>half the attention on <b>${pct(a["50%"])}</b> of the area</span>` +
    `<span>80% on <b>${pct(a["80%"])}</b></span>` +
    `<span>peak at <b>${s.peak.x}, ${s.peak.y}</b></span>`;
}

// ---------------------------------------------------------------- the list of images
function listItems() {
  const ul = $("list");
  ul.replaceChildren();
  for (const item of state.items) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = item.status;
    b.setAttribute("aria-current", item === state.current ? "true" : "false");
    const note = item.status === "failed" ? item.error : item.status === "busy" ? "predicting…" : `${item.w} × ${item.h}`;
    b.innerHTML = `<img alt=""><span><span class="name"></span><span class="note"></span></span>`;
    if (item.status !== "failed") b.querySelector("img").src = item.url;
    b.querySelector(".name").textContent = item.name;
    b.querySelector(".note").textContent = note;
    b.onclick = () => select(item);
    li.append(b);
    ul.append(li);
  }
  updateCompare();
}

function select(item) {
  state.current = item;
  state.selectedRegion = -1;
  listItems();
  showMessage(item.status === "failed" ? (item.error.includes(item.name) ? item.error : `${item.name}: ${item.error}`) : "");
  $("empty").hidden = true;
  $("result").hidden = item.status === "failed";
  $("title").textContent = item.name;
  $("busy").hidden = item.status !== "busy";
  if (item.density) { draw(); drawCrops(item); showStats(item); }
  else { $("crops").replaceChildren(); $("stats").textContent = ""; listRegions(); }
}

function showMessage(text) {
  $("message").hidden = !text;
  $("message").textContent = text;
}

function loadImg(url) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("the browser cannot show this file"));
    img.src = url;
  });
}

async function analyse(item) {
  // a captured page is sent with its viewport: a long one is predicted screenful by screenful
  const page = item.viewport ? `viewport=${item.viewport}` : "";
  try {
    const [npy, summary, crops] = await Promise.all([
      api(`/saliency?format=npy&${page}`, item.file).then((r) => r.arrayBuffer()),
      api(`/saliency?format=json&${page}`, item.file).then((r) => r.json()),
      api(`/crop?${page}`, item.file).then((r) => r.json()),  // the aspect ratios of salmap crop's default
    ]);
    item.fold = summary.fold || null;
    const map = parseNpy(npy);
    item.w = map.w; item.h = map.h; item.density = map.data;
    item.max = map.data.reduce((a, b) => (b > a ? b : a), 0) || 1;
    item.sat = summedArea(map.data, map.w, map.h);
    item.summary = summary;
    item.crops = Object.entries(crops.crops).map(([aspect, c]) => ({ aspect, box: c.box, attention: c.attention }));
    // the server applies EXIF orientation; draw what it saw, at the map's size
    try { item.img = await loadImg(item.url); }
    catch (e) { item.img = await createImageBitmap(item.file); }
    item.status = "done";
  } catch (e) {
    item.status = "failed";
    item.error = e.message;
  }
  listItems();
  if (item === state.current) select(item);
}

function addFiles(files, viewport = null) {
  const added = [];
  for (const file of files) {
    const item = { id: nextId++, name: file.name, file, url: URL.createObjectURL(file), status: "busy", regions: [], viewport };
    state.items.push(item);
    added.push(item);
  }
  if (!added.length) return;
  select(added[0]);
  added.forEach(analyse);
}

// a web page, captured by the server (started with --allow-urls), then analysed as a file
async function captureUrl(e) {
  e.preventDefault();
  const url = $("url").value.trim(), viewport = $("url-viewport").value;
  $("url-go").disabled = true;
  $("url-go").textContent = "Capturing…";
  showMessage("");
  try {
    const r = await fetch(`${API}/capture`, {
      method: "POST",
      headers: { ...authHeaders(), "Content-Type": "application/json" },
      body: JSON.stringify({ url, viewport, full_page: $("url-full").checked }),
    });
    if (!r.ok) {
      let message = `${r.status} ${r.statusText}`;
      try { message = (await r.json()).error || message; } catch (err) { /* not JSON */ }
      throw new Error(message);
    }
    const name = url.replace(/^[a-z]+:\/\//i, "").replace(/[^A-Za-z0-9._]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 100);
    addFiles([new File([await r.blob()], `${name || "page"}.png`, { type: "image/png" })], viewport);
  } catch (err) {
    showMessage(`Could not capture ${url}: ${err.message}`);
  } finally {
    $("url-go").disabled = false;
    $("url-go").textContent = "Capture and analyse";
  }
}

// ---------------------------------------------------------------- regions: mouse and keyboard
function toImage(e) {
  const c = $("canvas"), r = c.getBoundingClientRect();
  return [(e.clientX - r.left) * (c.width / r.width), (e.clientY - r.top) * (c.height / r.height)];
}

function newRegion(box) {
  const item = state.current;
  const n = item.regions.length;
  item.regions.push({ name: `Region ${n + 1}`, box, colour: REGION_COLOURS[n % REGION_COLOURS.length] });
  state.selectedRegion = n;
  return item.regions[n];
}

function setUpCanvas() {
  const c = $("canvas");
  let drawing = null;
  c.addEventListener("pointerdown", (e) => {
    if (!state.current || !state.current.density) return;
    c.setPointerCapture(e.pointerId);
    const [x, y] = toImage(e);
    drawing = newRegion([x, y, x, y]);
  });
  c.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    const [x, y] = toImage(e);
    drawing.box[2] = x; drawing.box[3] = y;
    draw();
  });
  c.addEventListener("pointerup", () => {
    if (!drawing) return;
    const [x0, y0, x1, y1] = drawing.box;
    drawing.box = [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)].map(Math.round);
    if (drawing.box[2] - drawing.box[0] < 3 || drawing.box[3] - drawing.box[1] < 3) {
      state.current.regions.pop();
      state.selectedRegion = -1;
    }
    drawing = null;
    draw();
  });
  c.addEventListener("keydown", (e) => {
    const item = state.current;
    const r = item && item.regions[state.selectedRegion];
    if (!r) return;
    const step = Math.max(1, Math.round(item.w / 100)) * (e.altKey ? 0.2 : 1);
    const d = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[e.key];
    if (e.key === "Delete" || e.key === "Backspace") {
      item.regions.splice(state.selectedRegion, 1); state.selectedRegion = -1; draw(); e.preventDefault(); return;
    }
    if (!d) return;
    e.preventDefault();
    if (e.shiftKey) { r.box[2] = Math.max(r.box[0] + 4, r.box[2] + d[0]); r.box[3] = Math.max(r.box[1] + 4, r.box[3] + d[1]); }
    else { r.box = [r.box[0] + d[0], r.box[1] + d[1], r.box[2] + d[0], r.box[3] + d[1]]; }
    draw();
  });
  $("add-region").onclick = () => {
    const item = state.current;
    if (!item || !item.density) return;
    const w = item.w / 4, h = item.h / 4;
    newRegion([item.w / 2 - w / 2, item.h / 2 - h / 2, item.w / 2 + w / 2, item.h / 2 + h / 2].map(Math.round));
    draw();
    c.focus();
  };
  $("clear-regions").onclick = () => { if (state.current) { state.current.regions = []; state.selectedRegion = -1; draw(); } };
}

// ---------------------------------------------------------------- downloads
function download(name, blob) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function stem(item) {
  return item.name.replace(/\.[^.]+$/, "");
}

function canvasBlob(imageData) {
  const c = document.createElement("canvas");
  c.width = imageData.width; c.height = imageData.height;
  c.getContext("2d").putImageData(imageData, 0, 0);
  return new Promise((resolve) => c.toBlob(resolve, "image/png"));
}

function numbers(item) {
  return {
    file: item.name,
    width: item.w,
    height: item.h,
    model: state.modelName,
    summary: item.summary,
    crops: item.crops,
    regions: item.regions.map((r) => ({ name: r.name, box: r.box.map(Math.round), share: boxShare(item, r.box) })),
  };
}

function setUpDownloads() {
  const ready = () => state.current && state.current.density;
  $("dl-map").onclick = async () => { if (ready()) download(`${stem(state.current)}_map.png`, await canvasBlob(grayMap(state.current))); };
  $("dl-overlay").onclick = async () => {
    if (!ready()) return;
    const item = state.current;
    download(`${stem(item)}_overlay.png`, await canvasBlob(renderView(item, "overlay", state.alpha, state.colormap)));
  };
  $("dl-json").onclick = () => {
    if (ready()) download(`${stem(state.current)}_attention.json`, new Blob([JSON.stringify(numbers(state.current), null, 2)], { type: "application/json" }));
  };
}

// ---------------------------------------------------------------- A/B
function updateCompare() {
  const done = state.items.filter((i) => i.status === "done");
  $("compare").hidden = done.length < 2;
  if (done.length < 2) return;
  for (const [id, fallback] of [["pick-a", 0], ["pick-b", 1]]) {
    const sel = $(id);
    const keep = sel.value;
    sel.replaceChildren(...done.map((i) => new Option(i.name, i.id)));
    sel.value = done.some((i) => String(i.id) === keep) ? keep : done[fallback].id;
  }
  drawCompare();
}

function drawCompare() {
  const find = (id) => state.items.find((i) => String(i.id) === $(id).value);
  const a = find("pick-a"), b = find("pick-b");
  if (!a || !b) return;
  for (const [item, cid, cap] of [[a, "canvas-a", "cap-a"], [b, "canvas-b", "cap-b"]]) {
    const c = $(cid);
    c.width = item.w; c.height = item.h;
    c.getContext("2d").putImageData(renderView(item, state.view === "image" ? "overlay" : state.view, state.alpha, state.colormap), 0, 0);
    $(cap).textContent = `${item.name}: ${item.w} × ${item.h}`;
  }
  const rows = [
    ["Area holding 50% of attention", (i) => i.summary.area_for_attention["50%"], pct, "lower"],
    ["Area holding 80% of attention", (i) => i.summary.area_for_attention["80%"], pct, "lower"],
    ["Spread (entropy / that of a uniform map)", (i) => i.summary.entropy_bits / Math.log2(i.w * i.h), (x) => x.toFixed(3), "lower"],
    ...a.crops.map((c) => c.aspect).map((asp) => [`${asp} crop keeps`, (i) => (i.crops.find((c) => c.aspect === asp) || {}).attention, (x) => (x == null ? "–" : pct(x)), "higher"]),
  ];
  const t = $("ab-table");
  t.innerHTML = `<tr><th></th><th>A</th><th>B</th></tr>`;
  for (const [label, f, fmt, goal] of rows) {
    const va = f(a), vb = f(b);
    const tr = document.createElement("tr");
    const same = va == null || vb == null || fmt(va) === fmt(vb);
    const better = (v, w) => (same ? "" : (goal === "lower" ? v < w : v > w) ? "better" : "");
    tr.innerHTML = `<td>${label}</td><td class="${better(va, vb)}">${fmt(va)}</td><td class="${better(vb, va)}">${fmt(vb)}</td>`;
    t.append(tr);
  }
}

// ---------------------------------------------------------------- start
async function start() {
  const settings = await (await fetch("/page-settings.json")).json();
  state.tables = settings.colormaps;
  state.colormap = settings.colormap;
  state.alpha = settings.alpha;
  state.cropColours = settings.crop_colours;
  state.scale = settings.scale;
  state.fog = settings.fog;
  $("scale").value = settings.scale;
  $("opacity").value = Math.round(100 * settings.alpha);
  $("opacity-out").textContent = `${Math.round(100 * settings.alpha)}%`;
  $("colormap").replaceChildren(...Object.keys(settings.colormaps).map((n) => new Option(n, n)));
  $("colormap").value = settings.colormap;
  window.addEventListener("resize", fitCanvas);
  $("token").value = state.token;
  await showModel();

  $("files").onchange = (e) => { addFiles(e.target.files); e.target.value = ""; };
  $("url-form").hidden = !settings.urls;
  $("url-form").onsubmit = captureUrl;
  const drop = $("drop");
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("files").click(); } });
  for (const ev of ["dragenter", "dragover"]) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); });
  for (const ev of ["dragleave", "drop"]) drop.addEventListener(ev, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); addFiles(e.dataTransfer.files); });
  document.body.addEventListener("dragover", (e) => e.preventDefault());
  document.body.addEventListener("drop", (e) => { e.preventDefault(); addFiles(e.dataTransfer.files); });

  for (const r of document.querySelectorAll('input[name="view"]')) r.onchange = () => { state.view = r.value; draw(); drawCompare(); };
  $("opacity").oninput = (e) => { state.alpha = e.target.value / 100; $("opacity-out").textContent = `${e.target.value}%`; draw(); };
  $("colormap").onchange = (e) => { state.colormap = e.target.value; draw(); drawCompare(); };
  $("show-crops").onchange = draw;
  $("scale").onchange = (e) => { state.scale = e.target.value; draw(); drawCompare(); };
  $("pick-a").onchange = drawCompare;
  $("pick-b").onchange = drawCompare;
  $("token-form").onsubmit = (e) => {
    e.preventDefault();
    state.token = $("token").value;
    sessionStorage.setItem("salmap-token", state.token);
    $("token-form").hidden = true;
    showModel();
    state.items.filter((i) => i.status === "failed").forEach((i) => { i.status = "busy"; analyse(i); });
    listItems();
  };
  setUpCanvas();
  setUpDownloads();
  listRegions();
}

async function showModel() {
  const r = await fetch(`${API}/model`, { headers: authHeaders() });
  if (r.status === 401) { $("token-form").hidden = false; $("model").textContent = "this server needs a token"; return; }
  const m = await r.json();
  state.modelName = m.name;
  $("model").textContent = `model: ${m.name} · ${m.encoder} · ${m.runner}`;
}

start().catch((e) => showMessage(`The page could not start: ${e.message}`));
