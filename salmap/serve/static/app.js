// salmap's page: plain JavaScript, no build step, nothing fetched from outside this server.
// The maps come from /api/v1/saliency (the float32 density as .npy, summed over k x k blocks
// of pixels for large images: the canvas works in blocks, files and the API in image pixels),
// the crops from /api/v1/crop; overlay, fog and region shares are computed here from the
// density so that they follow the sliders and the mouse without another request. Downloads
// come from the API at the image's full resolution.
"use strict";

const API = "/api/v1";
// The longer side of the map the page works on: a larger image's map comes summed over k x k
// blocks (a box on block edges holds the same share as on the full map).
const MAP_SIDE = 1600;

const state = {
  items: [],          // {id, name, file, url, status, error, img, w, h (the map's), block, fullW, fullH (the image's), density, max, sat, summary, crops, regions, regionNote}
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
  pendingPolygon: null,  // the corners of a polygon being drawn
  template: null,        // a region set put on every image (regions.js)
  tolerance: 0.02,       // salmap.regions.SHARE_TOLERANCE, from /page-settings.json
};
let nextId = 1;
const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- requests
function authHeaders() {
  return state.token ? { Authorization: `Bearer ${state.token}` } : {};
}

async function api(path, files, extra = {}) {
  // POST one file (or several, each in the field "image") and the fields of `extra`
  const body = new FormData();
  for (const file of [files].flat()) body.append("image", file, file.name);
  for (const [k, v] of Object.entries(extra)) body.append(k, v);
  const r = await reach(API + path, { method: "POST", body, headers: authHeaders() });
  if (!r.ok) {
    let message = `${r.status} ${r.statusText}`;
    try { message = (await r.json()).error || message; } catch (e) { /* not JSON */ }
    if (r.status === 401) $("token-form").hidden = false;
    const err = new Error(inWords(r.status, message));
    err.status = r.status;
    throw err;
  }
  return r;
}

async function reach(url, options) {
  // fetch, with a network failure ("Failed to fetch") said as what happened and what to do
  try {
    return await fetch(url, options);
  } catch (e) {
    throw new Error(`salmap serve is not running or cannot be reached at ${location.origin}: start it again (salmap serve) and reload this page.`);
  }
}

function inWords(status, message) {
  // the server's message for an API user, said to a designer where it asks something of them
  if (status === 401) {
    return state.token
      ? "This server did not accept the token in the API token field: paste the token you were given exactly, and press Use."
      : "This server needs an access token: paste the token you were given in the API token field at the top, and press Use.";
  }
  if (status === 413) return `${message}. Use a smaller file, or ask whoever runs the server to raise the limit.`;
  if (status === 415) return `${message}. The page takes JPEG, PNG, WebP, GIF, BMP and TIFF images.`;
  return message;
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
    // transparency over white, as the server composites it before the model sees the image
    g.fillStyle = "#fff";
    g.fillRect(0, 0, item.w, item.h);
    // one canvas pixel per block of the map (the last blocks may hold less of the image)
    g.drawImage(item.img, 0, 0, item.fullW / item.block, item.fullH / item.block);
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

function labelWidth(g, text, scale) {
  g.font = `600 ${Math.round(13 * scale)}px system-ui, sans-serif`;
  return g.measureText(text).width + 8 * scale;
}

function drawLabel(g, text, x, y, colour, scale, dark = true) {
  const pad = 4 * scale, h = 18 * scale;
  const w = labelWidth(g, text, scale);
  g.fillStyle = colour;
  g.fillRect(x, y, w, h);
  g.fillStyle = dark ? "#fff" : "#111";
  g.fillText(text, x + pad, y + h - 5 * scale);
}

function viewOf(item) {
  // the item's view under the current settings, drawn once per change of a setting
  const key = `${state.view}|${state.alpha}|${state.colormap}|${state.scale}`;
  if (item.viewKey !== key) {
    item.viewData = renderView(item, state.view, state.alpha, state.colormap);
    item.viewKey = key;
  }
  return item.viewData;
}

function draw() {
  const item = state.current;
  if (!item || !item.density) return;
  const canvas = $("canvas");
  if (canvas.width !== item.w || canvas.height !== item.h) { canvas.width = item.w; canvas.height = item.h; }
  fitCanvas();
  const g = canvas.getContext("2d");
  g.putImageData(viewOf(item), 0, 0);
  // canvas pixels per screen pixel: lines and labels keep their size on screen
  const scale = item.w / (parseFloat(canvas.style.width) || item.w);
  if ($("show-crops").checked && item.crops) {
    // the crops' boxes in the map's blocks
    const shown = item.crops.map((c, i) => [{ ...c, box: c.box.map((v) => v / item.block) }, i]).filter(([, i]) => item.focusCrop == null || item.focusCrop === i);
    if (item.focusCrop != null) {
      // one crop chosen: what it cuts away is dimmed
      const [x0, y0, x1, y1] = shown[0][0].box;
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
  drawRegions(g, item, scale, state.selectedRegion);
  if (item.fold) drawFold(g, item, scale);
  listRegions();
  drawLegend();
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

function drawLegend() {
  // the colour bar of salmap.viz.legend: what the heatmap's colours mean on the chosen scale
  const box = $("legend"), lut = state.tables[state.colormap];
  const fog = state.view === "fog";
  box.hidden = state.view === "image" || !lut;
  box.querySelector(".ramp").hidden = box.querySelector(".marks").hidden = fog;
  if (box.hidden) return;
  if (fog) {
    box.querySelector(".title").textContent = `the part holding ${Math.round(100 * state.fog.clear)}% of predicted attention stays clear; the rest fades with the attention it gets`;
    return;
  }
  const stops = Array.from({ length: 17 }, (_, k) => {
    const c = lut[Math.min(255, k * 16)];
    return `rgb(${c[0]},${c[1]},${c[2]}) ${(100 * k) / 16}%`;
  });
  box.querySelector(".ramp").style.background = `linear-gradient(90deg, ${stops.join(", ")})`;
  const mass = state.view === "overlay" && state.scale === "mass";
  const marks = mass ? state.massContours.map((s) => [1 - s, `${Math.round(100 * s)}%`]) : [[0.5, "half the peak"], [1, "peak"]];
  box.querySelector(".marks").replaceChildren(...marks.map(([x, label]) => {
    const span = document.createElement("span");
    span.textContent = label;
    span.style.left = `${100 * x}%`;
    if (x > 0.9) span.className = "end";
    return span;
  }));
  box.querySelector(".title").textContent = mass
    ? "brightest regions holding 25%, 50%, 75% of predicted attention"
    : "predicted attention relative to the most salient pixel";
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
  $("stats").innerHTML = `<span>${item.fullW} × ${item.fullH}</span>` +
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
    const note = item.status === "failed" ? item.error : item.status === "busy" ? "predicting…" : `${item.fullW} × ${item.fullH}`;
    b.innerHTML = `<img alt=""><span><span class="name"></span><span class="note"></span></span>`;
    if (item.status !== "failed") b.querySelector("img").src = item.url;
    b.querySelector(".name").textContent = item.name;
    b.querySelector(".note").textContent = note;
    b.onclick = () => select(item);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove";
    remove.textContent = "×";
    remove.title = `Remove ${item.name} from the list`;
    remove.setAttribute("aria-label", remove.title);
    remove.onclick = () => removeItem(item);
    li.append(b, remove);
    ul.append(li);
  }
  updateCompare();
}

function removeItem(item) {
  const k = state.items.indexOf(item);
  if (k < 0) return;
  state.items.splice(k, 1);
  URL.revokeObjectURL(item.url);
  if (state.current !== item) { listItems(); return; }
  const next = state.items[Math.min(k, state.items.length - 1)];
  if (next) { select(next); return; }
  state.current = null;
  showMessage("");
  $("result").hidden = true;
  $("empty").hidden = false;
  listItems();
  listRegions();
}

function select(item) {
  state.current = item;
  state.selectedRegion = -1;
  state.pendingPolygon = null;
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
    const [[npy, block], summary, crops] = await Promise.all([
      api(`/saliency?format=npy&max_side=${MAP_SIDE}&${page}`, item.file).then(async (r) => [await r.arrayBuffer(), +r.headers.get("X-Map-Block") || 1]),
      api(`/saliency?format=json&${page}`, item.file).then((r) => r.json()),
      api(`/crop?${page}`, item.file).then((r) => r.json()),  // the aspect ratios of salmap crop's default
    ]);
    item.fold = summary.fold ? summary.fold / block : null;  // in the map's blocks
    const map = parseNpy(npy);
    item.w = map.w; item.h = map.h; item.density = map.data;
    item.block = block; item.fullW = summary.width; item.fullH = summary.height;
    item.max = map.data.reduce((a, b) => (b > a ? b : a), 0) || 1;
    item.sat = summedArea(map.data, map.w, map.h);
    item.summary = summary;
    item.crops = Object.entries(crops.crops).map(([aspect, c]) => ({ aspect, box: c.box, attention: c.attention }));
    // the server applies EXIF orientation; draw what it saw, at the map's size
    try { item.img = await loadImg(item.url); }
    catch (e) { item.img = await createImageBitmap(item.file); }
    if (state.template) applyRegionSet(item, state.template);
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
    const item = { id: nextId++, name: file.name, file, url: URL.createObjectURL(file), status: "busy", regions: [], regionNote: "", viewport };
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

function numbers(item) {
  return {
    file: item.name,
    width: item.fullW,
    height: item.fullH,
    model: state.modelName,
    summary: item.summary,
    crops: item.crops,
    regions: regionSetOf(item, "px"),  // as salmap attention --regions reads it
    region_shares: Object.fromEntries(item.regions.map((r) => [r.name, regionShares(item, r)])),
    region_note: item.regionNote || null,
  };
}

function downloadReport(button) {
  // the report of every analysed image in the list (variants are compared in a table), on the
  // template when one is set, else on the regions drawn on the image shown
  const items = state.items.filter((i) => i.status === "done");
  const current = state.current;
  if (!items.length) return;
  const regions = state.template || (current && current.density && current.regions.length ? regionSetOf(current, "px") : null);
  const name = items.length > 1 ? `${stem(items[0])}_variants_report.html` : `${stem(items[0])}_report.html`;
  fetchDownload(button, items.map((i) => i.file), "/report", name, regions ? { regions: JSON.stringify(regions) } : {});
}

async function fetchDownload(button, files, path, name, extra = {}) {
  // a picture or report made by the server at the image's full resolution
  button.disabled = true;
  try {
    download(name, await (await api(path, files, extra)).blob());
  } catch (e) {
    showMessage(`${name}: the download failed: ${e.message}`);
  } finally {
    button.disabled = false;
  }
}

function setUpDownloads() {
  const ready = () => state.current && state.current.density;
  // map, overlay, fog and report come from the server: salmap.viz's pictures at the image's
  // resolution, legend included
  const fetched = (button, path, suffix) => {
    if (ready()) fetchDownload(button, state.current.file, path, `${stem(state.current)}${suffix}`);
  };
  $("dl-map").onclick = (e) => fetched(e.currentTarget, "/saliency?format=png", "_map.png");
  $("dl-overlay").onclick = (e) => fetched(e.currentTarget, `/overlay?${new URLSearchParams({ alpha: state.alpha, colormap: state.colormap, scale: state.scale })}`, "_overlay.png");
  $("dl-fog").onclick = (e) => fetched(e.currentTarget, "/fog", "_fog.png");
  $("dl-report").onclick = (e) => downloadReport(e.currentTarget);
  $("dl-json").onclick = () => {
    if (ready()) download(`${stem(state.current)}_attention.json`, new Blob([JSON.stringify(numbers(state.current), null, 2)], { type: "application/json" }));
  };
}

// ---------------------------------------------------------------- start
async function start() {
  const settings = await (await reach("/page-settings.json")).json();
  state.tables = settings.colormaps;
  state.colormap = settings.colormap;
  state.alpha = settings.alpha;
  state.cropColours = settings.crop_colours;
  state.scale = settings.scale;
  state.fog = settings.fog;
  state.massContours = settings.mass_contours;
  state.tolerance = settings.share_tolerance;
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
  $("opacity").oninput = (e) => { state.alpha = e.target.value / 100; $("opacity-out").textContent = `${e.target.value}%`; draw(); drawCompare(); };
  $("colormap").onchange = (e) => { state.colormap = e.target.value; draw(); drawCompare(); };
  $("show-crops").onchange = draw;
  $("scale").onchange = (e) => { state.scale = e.target.value; draw(); drawCompare(); };
  $("token-form").onsubmit = (e) => {
    e.preventDefault();
    state.token = $("token").value;
    sessionStorage.setItem("salmap-token", state.token);
    $("token-form").hidden = true;
    showMessage("");
    showModel();
    state.items.filter((i) => i.status === "failed").forEach((i) => { i.status = "busy"; analyse(i); });
    listItems();
  };
  setUpRegions();
  setUpDownloads();
  listRegions();
}

async function showModel() {
  const r = await reach(`${API}/model`, { headers: authHeaders() });
  if (r.status === 401) {
    $("token-form").hidden = false;
    $("model").textContent = "this server needs a token";
    showMessage(inWords(401, ""));
    return;
  }
  const m = await r.json();
  state.modelName = m.name;
  $("model").textContent = `model: ${m.name} · ${m.encoder} · ${m.runner}`;
}

start().catch((e) => showMessage(`The page could not start: ${e.message}`));
