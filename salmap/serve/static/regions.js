// Named regions on the page: boxes and polygons drawn on an image, their shares of attention,
// a template that puts one set on every image, and the comparison of variants side by side.
// Regions are kept in the pixels of each image's map on the page (blocks of k x k image pixels
// for a large image: app.js); files use image pixels, in salmap.region_sets' format, as
// `salmap attention --regions` and /api/v1/attention read it:
//   {units: "px" | "fraction", size: [w, h], regions: [{name, box: [x0, y0, x1, y1]} | {name, polygon: [[x, y], ...]}]}
// A pixel counts in a region when its centre is inside it, as salmap.regions counts it.
"use strict";

const REGION_COLOURS = ["#2f6fed", "#12b76a", "#f79009", "#ee46bc", "#06aed4", "#875bf7"];

// ---------------------------------------------------------------- geometry and shares
function regionBounds(r) {
  if (r.box) {
    const [x0, y0, x1, y1] = r.box;
    return [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)];
  }
  const xs = r.polygon.map((p) => p[0]), ys = r.polygon.map((p) => p[1]);
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

function pixelEdge(v, hi) {
  // pixel i is inside [a, b) when its centre i + 0.5 is: the first is ceil(a - 0.5)
  return Math.max(0, Math.min(hi, Math.ceil(v - 0.5)));
}

function insidePolygon(pts, x, y) {
  let inside = false;
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const [xi, yi] = pts[i], [xj, yj] = pts[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function regionShares(item, r) {
  // {attention, area}: shares (0-1) of the image's attention and of its pixels
  const key = `${item.id}|${JSON.stringify(r.box || r.polygon)}`;
  if (r.cached && r.cached.key === key) return r.cached.value;
  const [bx0, by0, bx1, by1] = regionBounds(r);
  const x0 = pixelEdge(bx0, item.w), x1 = pixelEdge(bx1, item.w);
  const y0 = pixelEdge(by0, item.h), y1 = pixelEdge(by1, item.h);
  const W = item.w + 1, s = item.sat, total = s[item.h * W + item.w];
  let attention = 0, pixels = 0;
  if (r.box) {
    attention = (s[y1 * W + x1] - s[y0 * W + x1] - s[y1 * W + x0] + s[y0 * W + x0]) / total;
    pixels = Math.max(0, x1 - x0) * Math.max(0, y1 - y0);
  } else {
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        if (insidePolygon(r.polygon, x + 0.5, y + 0.5)) { attention += item.density[y * item.w + x]; pixels++; }
      }
    }
    attention /= total;
  }
  // a box's area in image pixels: blocks of the last row and column may be narrower
  const k = item.block;
  const area = r.box ? Math.max(0, Math.min(item.fullW, x1 * k) - x0 * k) * Math.max(0, Math.min(item.fullH, y1 * k) - y0 * k) / (item.fullW * item.fullH) : pixels / (item.w * item.h);
  const value = { attention, area };
  r.cached = { key, value };
  return value;
}

function moveRegion(item, r, dx, dy) {
  // moved as a whole, but never past the image's edges
  const [x0, y0, x1, y1] = regionBounds(r);
  dx = Math.max(-x0, Math.min(item.w - x1, dx));
  dy = Math.max(-y0, Math.min(item.h - y1, dy));
  if (r.box) r.box = [r.box[0] + dx, r.box[1] + dy, r.box[2] + dx, r.box[3] + dy];
  else r.polygon = r.polygon.map(([x, y]) => [x + dx, y + dy]);
}

function resizeRegion(item, r, dx, dy) {
  // the box's right and bottom edges: at least 4 pixels wide and high, inside the image
  if (!r.box) return;
  const [x0, y0, x1, y1] = regionBounds(r);
  r.box = [x0, y0, Math.max(x0 + 4, Math.min(item.w, x1 + dx)), Math.max(y0 + 4, Math.min(item.h, y1 + dy))];
}

// ---------------------------------------------------------------- drawing
function traceRegion(g, r) {
  g.beginPath();
  if (r.box) {
    const [x0, y0, x1, y1] = regionBounds(r);
    g.rect(x0, y0, x1 - x0, y1 - y0);
    return;
  }
  r.polygon.forEach(([x, y], k) => (k ? g.lineTo(x, y) : g.moveTo(x, y)));
  g.closePath();
}

function drawRegions(g, item, scale, selected = -1) {
  // outlines first, then labels above each region (below it at the image's top edge), so
  // that no label covers what it measures
  item.regions.forEach((r, i) => {
    traceRegion(g, r);
    g.lineWidth = 5 * scale;
    g.strokeStyle = "rgba(0,0,0,.35)";
    g.stroke();
    g.lineWidth = (i === selected ? 4 : 2.5) * scale;
    g.strokeStyle = r.colour;
    g.stroke();
  });
  const placed = [];
  for (const r of item.regions) {
    const text = `${r.name} ${pct(regionShares(item, r).attention)}`;
    const [x, y] = labelPlace(item, regionBounds(r), labelWidth(g, text, scale), 18 * scale, 3 * scale, placed);
    drawLabel(g, text, x, y, r.colour, scale);
  }
  const pending = state.pendingPolygon;
  if (pending && item === state.current && pending.length) {
    g.beginPath();
    pending.forEach(([x, y], k) => (k ? g.lineTo(x, y) : g.moveTo(x, y)));
    g.setLineDash([6 * scale, 4 * scale]);
    g.lineWidth = 2.5 * scale;
    g.strokeStyle = "#fff";
    g.stroke();
    g.setLineDash([]);
    for (const [x, y] of pending) { g.fillStyle = "#fff"; g.fillRect(x - 3 * scale, y - 3 * scale, 6 * scale, 6 * scale); }
  }
}

function labelPlace(item, [x0, y0, x1, y1], w, h, gap, placed) {
  // above the region, else below it, else inside its top edge: the first that fits in the
  // image and covers no label placed before; the rectangle taken is added to `placed`
  const x = Math.max(0, Math.min(item.w - w, x0));
  const spots = [y0 - h - gap, y1 + gap, y0 + gap, y1 - h - gap].filter((y) => y >= 0 && y + h <= item.h);
  const free = (y) => placed.every(([px, py, pw]) => px >= x + w || px + pw <= x || py >= y + h || py + h <= y);
  const y = spots.find(free) ?? spots[0] ?? 0;
  placed.push([x, y, w]);
  return [x, y];
}

// ---------------------------------------------------------------- the list
function listRegions() {
  const item = state.current;
  const ul = $("regions");
  ul.replaceChildren();
  $("region-note").hidden = !(item && item.regionNote);
  $("region-note").textContent = (item && item.regionNote) || "";
  if (!item || !item.regions.length) {
    const li = document.createElement("li");
    li.innerHTML = '<span class="hint" style="grid-column: 1 / 5">Drag a box over a logo, a headline or a button to see the share of attention it gets.</span>';
    ul.append(li);
    return;
  }
  item.regions.forEach((r, i) => {
    const share = regionShares(item, r);
    const li = document.createElement("li");
    li.className = i === state.selectedRegion ? "selected" : "";
    li.dataset.share = share.attention.toFixed(6);
    li.innerHTML = `<span class="swatch" style="background:${r.colour}"></span><input class="name" aria-label="Name of region ${i + 1}">` +
      `<span class="share" title="share of the attention; area ${pct(share.area)} of the image">${pct(share.attention)}</span><button type="button" class="remove">×</button>` +
      `<span class="bar"><span style="width:${(100 * share.attention).toFixed(1)}%;background:${r.colour}"></span></span>`;
    const name = li.querySelector("input");
    name.value = r.name;
    name.onchange = () => renameRegion(item, r, name);
    li.querySelector("button").setAttribute("aria-label", `Remove ${r.name}`);
    li.querySelector("button").onclick = () => { item.regions.splice(i, 1); state.selectedRegion = -1; redrawRegions(); };
    // choosing a region redraws the list, so not from its name field (it would lose the focus)
    li.onclick = (e) => { if (!["BUTTON", "INPUT"].includes(e.target.tagName) && state.selectedRegion !== i) { state.selectedRegion = i; draw(); } };
    name.onfocus = () => { state.selectedRegion = i; };
    ul.append(li);
  });
}

function renameRegion(item, r, input) {
  const name = input.value.trim();
  const taken = item.regions.some((o) => o !== r && o.name === name);
  if (!name || taken) {
    showMessage(name ? `Another region is already named “${name}”: names must differ.` : "A region needs a name.");
    input.value = r.name;
    return;
  }
  showMessage("");
  r.name = name;
  redrawRegions();
}

function redrawRegions() {
  draw();
  drawCompare();
}

// ---------------------------------------------------------------- the region format
function regionSetOf(item, units) {
  // the item's regions as a file: image pixels (with the image's size) or fractions of the
  // image; the map's blocks are k image pixels, the last ones maybe fewer
  const W = item.fullW, H = item.fullH, k = item.block;
  const fx = units === "fraction" ? 1 / W : 1, fy = units === "fraction" ? 1 / H : 1;
  const digits = units === "fraction" ? 6 : 2;
  const point = ([x, y]) => [+(Math.min(W, x * k) * fx).toFixed(digits), +(Math.min(H, y * k) * fy).toFixed(digits)];
  const regions = item.regions.map((r) => (r.box
    ? { name: r.name, box: [...point(r.box.slice(0, 2)), ...point(r.box.slice(2))] }
    : { name: r.name, polygon: r.polygon.map(point) }));
  return units === "fraction" ? { units, regions } : { units, size: [W, H], regions };
}

function parseRegionSet(spec) {
  // the current form, or the older {name: box | polygon} (pixels); an Error says what is wrong
  const example = 'e.g. {"units": "px", "regions": [{"name": "logo", "box": [x0, y0, x1, y1]}]}';
  if (spec && Array.isArray(spec.regions) && "units" in spec) {
    if (!["px", "fraction"].includes(spec.units)) throw new Error(`units is "${spec.units}"; use "px" or "fraction"`);
    if (spec.size != null && !(Array.isArray(spec.size) && spec.size.length === 2 && spec.size.every((v) => Number.isInteger(v) && v > 0)))
      throw new Error("size is [width, height] in whole pixels");
    const regions = spec.regions.map((r, i) => checkShape(r && r.name, r && (r.box ? ["box", r.box] : ["polygon", r.polygon]), i));
    return { units: spec.units, size: spec.size || null, regions };
  }
  if (spec && typeof spec === "object" && !Array.isArray(spec) && Object.keys(spec).length) {
    const regions = Object.entries(spec).map(([name, v], i) => checkShape(name, [Array.isArray(v && v[0]) ? "polygon" : "box", v], i));
    return { units: "px", size: null, regions };
  }
  throw new Error(`expected named regions, ${example}`);
}

function checkShape(name, [kind, value], i) {
  if (typeof name !== "string" || !name.trim()) throw new Error(`region ${i + 1} needs a name`);
  const numbers = (a) => Array.isArray(a) && a.every((v) => typeof v === "number" && isFinite(v));
  const ok = kind === "box" ? numbers(value) && value.length === 4 : Array.isArray(value) && value.length >= 3 && value.every((p) => numbers(p) && p.length === 2);
  if (!ok) throw new Error(`region "${name}": a ${kind} is ${kind === "box" ? "[x0, y0, x1, y1]" : "a list of at least 3 [x, y] points"}`);
  return kind === "box" ? { name, box: value.slice() } : { name, polygon: value.map((p) => p.slice()) };
}

function applyRegionSet(item, set) {
  // the set in this item's pixels: fractions scaled to its size; a pixel set drawn on another
  // size scaled too, with a note saying so; what reaches outside the image is cut at its edge
  const W = item.fullW, H = item.fullH;
  let sx = 1, sy = 1, note = "";
  if (set.units === "fraction") { sx = W; sy = H; }
  else if (set.size && (set.size[0] !== W || set.size[1] !== H)) {
    sx = W / set.size[0]; sy = H / set.size[1];
    note = `Regions drawn on ${set.size[0]} × ${set.size[1]} were scaled to this ${W} × ${H} image (×${+sx.toFixed(3)} wide, ×${+sy.toFixed(3)} high)`;
    if (Math.abs(sx / sy - 1) > 0.01) note += "; the shapes differ, so the regions are stretched";
  }
  sx /= item.block; sy /= item.block;  // image pixels -> the map's blocks
  let cut = false;
  const point = ([x, y]) => {
    const px = Math.max(0, Math.min(item.w, x * sx)), py = Math.max(0, Math.min(item.h, y * sy));
    cut = cut || px !== x * sx || py !== y * sy;
    return [px, py];
  };
  item.regions = set.regions.map((r, i) => ({
    name: r.name,
    colour: REGION_COLOURS[i % REGION_COLOURS.length],
    ...(r.box ? { box: [...point(r.box.slice(0, 2)), ...point(r.box.slice(2))] } : { polygon: r.polygon.map(point) }),
  }));
  if (cut) note = `${note ? `${note}; ` : ""}regions reaching outside this ${W} × ${H} image were cut at its edge`;
  item.regionNote = note;
}

function useOnEveryImage(set) {
  // the template: kept for images added later, applied now to every analysed image
  state.template = set;
  for (const item of state.items) if (item.density) applyRegionSet(item, set);
  state.selectedRegion = -1;
  redrawRegions();
}

// ---------------------------------------------------------------- mouse and keyboard
function toImage(e) {
  const c = $("canvas"), r = c.getBoundingClientRect();
  const x = (e.clientX - r.left) * (c.width / r.width), y = (e.clientY - r.top) * (c.height / r.height);
  return [Math.max(0, Math.min(c.width, x)), Math.max(0, Math.min(c.height, y))];
}

function newRegion(shape) {
  const item = state.current;
  const n = item.regions.length;
  let k = n + 1;
  while (item.regions.some((r) => r.name === `Region ${k}`)) k++;
  item.regions.push({ name: `Region ${k}`, colour: REGION_COLOURS[n % REGION_COLOURS.length], ...shape });
  state.selectedRegion = n;
  return item.regions[n];
}

function addPolygonPoint(x, y) {
  // a click adds a corner; a click on the first corner, a double click or Enter closes it
  const pending = state.pendingPolygon || (state.pendingPolygon = []);
  const c = $("canvas"), near = 10 * (c.width / (parseFloat(c.style.width) || c.width));
  if (pending.length >= 3 && Math.hypot(x - pending[0][0], y - pending[0][1]) < near) return closePolygon();
  const last = pending[pending.length - 1];
  if (!last || Math.hypot(x - last[0], y - last[1]) > 1) pending.push([x, y].map((v) => +v.toFixed(2)));
  draw();
}

function closePolygon() {
  const pending = state.pendingPolygon;
  state.pendingPolygon = null;
  if (pending && pending.length >= 3) newRegion({ polygon: pending });
  redrawRegions();
}

function setUpRegions() {
  const c = $("canvas");
  let drawing = null;
  c.addEventListener("pointerdown", (e) => {
    if (!state.current || !state.current.density) return;
    const [x, y] = toImage(e);
    if ($("shape").value === "polygon") { addPolygonPoint(x, y); return; }
    c.setPointerCapture(e.pointerId);
    drawing = newRegion({ box: [x, y, x, y] });
  });
  c.addEventListener("dblclick", () => { if (state.pendingPolygon) closePolygon(); });
  c.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    [drawing.box[2], drawing.box[3]] = toImage(e);
    draw();
  });
  c.addEventListener("pointerup", () => {
    if (!drawing) return;
    drawing.box = regionBounds(drawing).map(Math.round);
    if (drawing.box[2] - drawing.box[0] < 3 || drawing.box[3] - drawing.box[1] < 3) {
      state.current.regions.pop();
      state.selectedRegion = -1;
    }
    drawing = null;
    redrawRegions();
  });
  c.addEventListener("keydown", onRegionKey);
  $("shape").onchange = () => { state.pendingPolygon = null; draw(); };
  $("add-region").onclick = () => {
    const item = state.current;
    if (!item || !item.density) return;
    const w = item.w / 4, h = item.h / 4;
    newRegion({ box: [item.w / 2 - w / 2, item.h / 2 - h / 2, item.w / 2 + w / 2, item.h / 2 + h / 2].map(Math.round) });
    redrawRegions();
    c.focus();
  };
  $("clear-regions").onclick = () => { if (state.current) { state.current.regions = []; state.current.regionNote = ""; state.selectedRegion = -1; redrawRegions(); } };
  setUpTemplate();
}

function onRegionKey(e) {
  const item = state.current;
  if (state.pendingPolygon && (e.key === "Enter" || e.key === "Escape")) {
    if (e.key === "Escape") state.pendingPolygon = null;
    e.key === "Enter" ? closePolygon() : draw();
    e.preventDefault();
    return;
  }
  const r = item && item.regions[state.selectedRegion];
  if (!r) return;
  if (e.key === "Delete" || e.key === "Backspace") {
    item.regions.splice(state.selectedRegion, 1); state.selectedRegion = -1; redrawRegions(); e.preventDefault(); return;
  }
  const step = Math.max(1, Math.round(item.w / 100)) * (e.altKey ? 0.2 : 1);
  const d = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[e.key];
  if (!d) return;
  e.preventDefault();
  (e.shiftKey ? resizeRegion : moveRegion)(item, r, d[0], d[1]);
  redrawRegions();
}

function setUpTemplate() {
  $("use-everywhere").onclick = () => {
    const item = state.current;
    if (!item || !item.density || !item.regions.length) { showMessage("Draw the regions on one image first; then they can go on every image."); return; }
    showMessage("");
    useOnEveryImage(regionSetOf(item, $("units").value));
  };
  $("dl-regions").onclick = () => {
    const item = state.current;
    if (!item || !item.density) return;
    const blob = new Blob([JSON.stringify(regionSetOf(item, $("units").value), null, 2)], { type: "application/json" });
    download(`${stem(item)}_regions.json`, blob);
  };
  $("load-regions").onchange = async (e) => {
    const file = e.target.files[0];
    e.target.value = "";
    if (!file) return;
    try {
      const set = parseRegionSet(JSON.parse(await file.text()));
      showMessage("");
      useOnEveryImage(set);
    } catch (err) {
      showMessage(`${file.name}: ${err instanceof SyntaxError ? "not JSON" : err.message}`);
    }
  };
}

// ---------------------------------------------------------------- variants side by side
function updateCompare() {
  const done = state.items.filter((i) => i.status === "done");
  $("compare").hidden = done.length < 2;
  if (done.length >= 2) drawCompare();
}

function drawCompare() {
  const done = state.items.filter((i) => i.status === "done");
  if (done.length < 2 || $("compare").hidden) return;
  const box = $("ab");
  if (box.dataset.ids !== done.map((i) => i.id).join(",")) {
    box.replaceChildren(...done.map((item, k) => {
      const fig = document.createElement("figure");
      fig.innerHTML = `<canvas data-item="${item.id}"></canvas><figcaption><b>${variantLetter(k)}</b> <span></span><span class="region-note" hidden></span></figcaption>`;
      fig.querySelector("figcaption span").textContent = `${item.name} · ${item.fullW} × ${item.fullH}`;
      return fig;
    }));
    box.dataset.ids = done.map((i) => i.id).join(",");
  }
  box.querySelectorAll("canvas").forEach((c, k) => {
    const item = done[k];
    c.width = item.w; c.height = item.h;
    const g = c.getContext("2d");
    g.putImageData(viewOf(item), 0, 0);
    drawRegions(g, item, item.w / (c.clientWidth || item.w));
    const note = c.parentElement.querySelector(".region-note");
    note.hidden = !item.regionNote;
    note.textContent = item.regionNote || "";
  });
  drawCompareTable(done);
}

function variantLetter(k) {
  return String.fromCharCode(65 + (k % 26));
}

function compareRows(done) {
  // [label, value of an item, format, "higher" | "lower" | null (no winner)]
  const names = [...new Set(done.flatMap((i) => i.regions.map((r) => r.name)))];
  const share = (name) => (i) => { const r = i.regions.find((x) => x.name === name); return r ? regionShares(i, r) : null; };
  const withArea = (s) => (s == null ? "–" : `${pct(s.attention)} <small>area ${pct(s.area)}</small>`);
  return [
    ...names.map((n) => [`<span class="region-name"></span>`, share(n), withArea, "higher", n]),
    ["Area holding 50% of attention", (i) => i.summary.area_for_attention["50%"], pct, "lower"],
    ["Area holding 80% of attention", (i) => i.summary.area_for_attention["80%"], pct, "lower"],
    ["Spread (entropy / that of a uniform map)", (i) => i.summary.entropy_bits / Math.log2(i.fullW * i.fullH), (x) => x.toFixed(3), "lower"],
    ...done[0].crops.map((c) => c.aspect).map((asp) => [`${asp} crop keeps`, (i) => (i.crops.find((c) => c.aspect === asp) || {}).attention, (x) => (x == null ? "–" : pct(x)), "higher"]),
  ];
}

function leader(values, higher) {
  // the index of the value ahead of every other by more than the tolerance, as
  // salmap.regions.leader finds it; -1 when none is
  if (values.length < 2 || values.some((v) => v == null)) return -1;
  const order = values.map((v, i) => i).sort((a, b) => (higher ? values[b] - values[a] : values[a] - values[b]));
  return Math.abs(values[order[0]] - values[order[1]]) > state.tolerance ? order[0] : -1;
}

function drawCompareTable(done) {
  const t = $("ab-table");
  t.replaceChildren();
  const head = t.insertRow();
  head.innerHTML = "<th></th>" + done.map((i, k) => `<th title="">${variantLetter(k)}</th>`).join("");
  done.forEach((item, k) => { head.cells[k + 1].title = item.name; });
  for (const [label, f, fmt, goal, name] of compareRows(done)) {
    const values = done.map(f);
    const numbers = values.map((v) => (v != null && typeof v === "object" ? v.attention : v));
    const lead = leader(numbers, goal === "higher");
    const tr = t.insertRow();
    tr.innerHTML = `<td>${label}</td>` + values.map((v, k) => `<td class="${k === lead ? "better" : ""}">${fmt(v)}</td>`).join("");
    if (name != null) { tr.dataset.region = name; tr.querySelector(".region-name").textContent = name; }
  }
  $("ab-tolerance").textContent = `${+(100 * state.tolerance).toFixed(1)} points (${state.tolerance})`;
}
