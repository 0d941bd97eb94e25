"""The gallery every report page ends with: its script, markup and the data it reads.

The gallery (vanilla JS over the JSON array that `page.page` embeds) filters by status tag, group (subset, split,
step) and label, searches ids and queries, sorts, and shows one page of cards at a time, so
10,000 samples stay fast: only the cards on screen exist, and their images load lazily. The
filter state lives in the URL's fragment (`report.html#status=miss&sort=iou0-asc`), so a view
can be bookmarked or linked.
"""

from __future__ import annotations

GT_COLOR = "#00a000"
# Predictions: one colour per model (a comparison shows up to six side by side).
MODEL_COLORS = ("#e4002b", "#1f5fd6", "#ff8c00", "#8e44ad", "#00a0a0", "#8b5a2b")
PAGE_SIZES = (24, 60, 120)

GALLERY_JS = r"""
'use strict';
(function () {
  const dataNode = document.getElementById('report-data');
  const gallery = document.getElementById('gallery');
  if (!dataNode || !gallery) { document.body.dataset.ready = '1'; return; }
  const DATA = JSON.parse(dataNode.textContent);
  const SVG = 'http://www.w3.org/2000/svg';
  const $ = (id) => document.getElementById(id);
  const state = {status: 'all', group: 'all', label: 'all', q: '', sort: 'file', page: 0, size: DATA.page_size};

  function fill(select, options) {
    for (const [value, text] of options) {
      const o = document.createElement('option');
      o.value = String(value);
      o.textContent = text;
      select.appendChild(o);
    }
  }
  fill($('f-status'), [['all', 'all samples'], ...DATA.statuses]);
  fill($('f-group'), [['all', 'all'], ...DATA.groups.map((g) => [g, g])]);
  fill($('f-label'), [['all', 'all'], ...DATA.labels.map((l) => [l, l])]);
  const sorts = [['file', 'file order']];
  for (const [key, text] of DATA.sorts) {
    sorts.push([key + '-asc', text + ' (low first)'], [key + '-desc', text + ' (high first)']);
  }
  fill($('f-sort'), sorts);
  fill($('f-size'), DATA.page_sizes.map((n) => [n, n + ' per page']));
  if (!DATA.groups.length) $('w-group').classList.add('hidden');
  if (!DATA.labels.length) $('w-label').classList.add('hidden');
  $('w-group-name').textContent = DATA.group_name;

  // layer toggles: the ground truth and each model's boxes
  const layers = $('layers');
  const layerDefs = [['gt', 'ground truth', DATA.gt_color], ...DATA.models.map((m, i) => ['m' + i, m, DATA.colors[i]])];
  for (const [cls, text, color] of layerDefs) {
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = true;
    box.addEventListener('change', () => gallery.classList.toggle('hide-' + cls, !box.checked));
    const swatch = document.createElement('span');
    swatch.className = 'legend';
    swatch.style.borderColor = color;
    label.append(box, swatch, document.createTextNode(text));
    layers.appendChild(label);
  }
  const hideRules = layerDefs.map(([cls]) => '#gallery.hide-' + cls + ' .' + cls + ' { display: none; }').join('\n');
  const style = document.createElement('style');
  style.textContent = hideRules;
  document.head.appendChild(style);

  function hasOption(select, value) {
    return Array.from(select.options).some((o) => o.value === value);
  }

  function readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    for (const [key, id] of [['status', 'f-status'], ['group', 'f-group'], ['label', 'f-label'], ['sort', 'f-sort']]) {
      const v = params.get(key);
      if (v !== null && hasOption($(id), v)) state[key] = v;
    }
    const size = Number(params.get('size'));
    if (DATA.page_sizes.includes(size)) state.size = size;
    state.q = params.get('q') || '';
    state.page = Math.max(0, (parseInt(params.get('page'), 10) || 1) - 1);
  }

  function writeHash() {
    const params = new URLSearchParams();
    for (const key of ['status', 'group', 'label', 'sort']) {
      if (state[key] !== 'all' && state[key] !== 'file') params.set(key, state[key]);
    }
    if (state.q) params.set('q', state.q);
    if (state.size !== DATA.page_size) params.set('size', String(state.size));
    if (state.page) params.set('page', String(state.page + 1));
    try {
      history.replaceState(null, '', '#' + params.toString());
    } catch (e) {
      // some browsers refuse replaceState on file:// pages; the view still works
    }
  }

  function syncControls() {
    $('f-status').value = state.status;
    $('f-group').value = state.group;
    $('f-label').value = state.label;
    $('f-sort').value = state.sort;
    $('f-size').value = String(state.size);
    $('f-q').value = state.q;
  }

  function matches(s) {
    if (state.status !== 'all' && !s.tags.includes(state.status)) return false;
    if (state.group !== 'all' && s.group !== state.group) return false;
    if (state.label !== 'all' && !s.labels.includes(state.label)) return false;
    if (state.q) {
      const q = state.q.toLowerCase();
      if (!(s.id.toLowerCase().includes(q) || s.query.toLowerCase().includes(q))) return false;
    }
    return true;
  }

  function selected() {
    const out = DATA.samples.filter(matches);
    if (state.sort !== 'file') {
      const cut = state.sort.lastIndexOf('-');
      const key = state.sort.slice(0, cut);
      const sign = state.sort.slice(cut + 1) === 'desc' ? -1 : 1;
      const value = (s) => (typeof s.sort[key] === 'number' ? s.sort[key] : null);
      out.sort((a, b) => {
        const va = value(a), vb = value(b);
        if (va === null || vb === null) return (va === null) - (vb === null);  // missing values last
        return sign * (va - vb);
      });
    }
    return out;
  }

  function svgEl(name, attrs) {
    const el = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    return el;
  }

  function addBox(svg, box, cls, color) {
    const [x1, y1, x2, y2, label] = box;
    const rect = svgEl('rect', {x: Math.min(x1, x2), y: Math.min(y1, y2), width: Math.abs(x2 - x1),
                                height: Math.abs(y2 - y1), class: cls, stroke: color});
    const title = document.createElementNS(SVG, 'title');
    title.textContent = label;
    rect.appendChild(title);
    svg.appendChild(rect);
  }

  function picture(s) {
    const wrap = document.createElement('div');
    if (s.img === null) {
      wrap.className = 'noimg';
      wrap.textContent = 'no image';
      return wrap;
    }
    wrap.className = 'pic';
    // The view takes in boxes that fall outside the image (a model writing another coordinate
    // frame), up to one image size beyond each edge.
    let x0 = 0, y0 = 0, x1 = s.w, y1 = s.h;
    for (const b of s.gt.concat(...s.preds.map((p) => p.boxes))) {
      x0 = Math.min(x0, b[0], b[2]); y0 = Math.min(y0, b[1], b[3]);
      x1 = Math.max(x1, b[0], b[2]); y1 = Math.max(y1, b[1], b[3]);
    }
    x0 = Math.max(x0, -s.w); y0 = Math.max(y0, -s.h); x1 = Math.min(x1, 2 * s.w); y1 = Math.min(y1, 2 * s.h);
    const svg = svgEl('svg', {viewBox: [x0, y0, x1 - x0, y1 - y0].join(' '), preserveAspectRatio: 'xMidYMid meet'});
    const img = svgEl('image', {href: DATA.images[s.img], x: 0, y: 0, width: s.w, height: s.h,
                                preserveAspectRatio: 'none'});
    svg.appendChild(img);
    if (x0 < 0 || y0 < 0 || x1 > s.w || y1 > s.h) {
      svg.appendChild(svgEl('rect', {x: 0, y: 0, width: s.w, height: s.h, class: 'frame', stroke: '#777',
                                     'stroke-dasharray': '4 3'}));
    }
    for (const box of s.gt) addBox(svg, box, 'gt', DATA.gt_color);
    s.preds.forEach((p, i) => { for (const box of p.boxes) addBox(svg, box, 'm' + i, DATA.colors[i]); });
    wrap.appendChild(svg);
    return wrap;
  }

  function textEl(tag, cls, text) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    el.textContent = text;
    return el;
  }

  function card(s) {
    const el = document.createElement('div');
    el.className = 'card';
    if (s.preds.length === 1 && s.preds[0].ok !== null) el.classList.add(s.preds[0].ok ? 'ok' : 'bad');
    el.dataset.id = s.id;
    el.appendChild(picture(s));
    el.appendChild(textEl('h3', '', s.id));
    if (s.query) el.appendChild(textEl('p', 'query', s.query));
    for (const line of s.info) el.appendChild(textEl('p', 'info', line));
    s.preds.forEach((p, i) => {
      const block = document.createElement('div');
      block.className = 'pred m' + i + '-text';
      block.style.borderLeftColor = DATA.colors[i];
      const who = DATA.models.length > 1 ? DATA.models[i] + ': ' : '';
      block.appendChild(textEl('div', 'lines', who + p.lines.join(' \u00b7 ')));
      block.appendChild(textEl('pre', 'completion', p.text));
      el.appendChild(block);
    });
    return el;
  }

  function render() {
    const chosen = selected();
    const pages = Math.max(1, Math.ceil(chosen.length / state.size));
    state.page = Math.min(state.page, pages - 1);
    const start = state.page * state.size;
    const frag = document.createDocumentFragment();
    for (const s of chosen.slice(start, start + state.size)) frag.appendChild(card(s));
    gallery.replaceChildren(frag);
    $('count').textContent = chosen.length + ' of ' + DATA.samples.length + ' samples';
    $('page').textContent = 'page ' + (state.page + 1) + ' of ' + pages;
    $('prev').disabled = state.page === 0;
    $('next').disabled = state.page >= pages - 1;
    writeHash();
  }

  function onChange(key, id, parse) {
    $(id).addEventListener(id === 'f-q' ? 'input' : 'change', () => {
      state[key] = parse ? parse($(id).value) : $(id).value;
      state.page = 0;
      render();
    });
  }
  onChange('status', 'f-status');
  onChange('group', 'f-group');
  onChange('label', 'f-label');
  onChange('sort', 'f-sort');
  onChange('size', 'f-size', Number);
  onChange('q', 'f-q');
  $('prev').addEventListener('click', () => { state.page -= 1; render(); window.scrollTo(0, gallery.offsetTop - 60); });
  $('next').addEventListener('click', () => { state.page += 1; render(); window.scrollTo(0, gallery.offsetTop - 60); });
  window.addEventListener('hashchange', () => { readHash(); syncControls(); render(); });

  readHash();
  syncControls();
  render();
  document.body.dataset.ready = '1';
})();
"""

GALLERY_HTML = """
<section id="samples">
<h2>Samples</h2>
<div class="controls">
<label>show <select id="f-status"></select></label>
<label id="w-group"><span id="w-group-name"></span> <select id="f-group"></select></label>
<label id="w-label">label <select id="f-label"></select></label>
<label>sort <select id="f-sort"></select></label>
<label>search <input id="f-q" type="search" placeholder="id or query"></label>
<select id="f-size"></select>
<span id="layers"></span>
<strong id="count"></strong>
</div>
<div id="gallery"></div>
<div class="pager"><button id="prev" type="button">previous</button><span id="page"></span>
<button id="next" type="button">next</button></div>
</section>
"""


def gallery_data(
    samples: list[dict],
    images: list[str],
    models: list[str],
    statuses: list[tuple[str, str]],
    sorts: list[tuple[str, str]],
    group_name: str = "group",
) -> dict:
    """What the gallery script reads. Each sample: id, img (index into `images` or None),
    w, h, query, group, labels, tags, sort {key: number}, gt [[x1, y1, x2, y2, label]],
    preds (one per model: boxes, text, lines, ok), info (lines)."""
    groups = sorted({s["group"] for s in samples if s.get("group") is not None}, key=_natural)
    labels = sorted({lab for s in samples for lab in s["labels"]}, key=str.lower)
    return {
        "samples": samples,
        "images": images,
        "models": models,
        "colors": [MODEL_COLORS[i % len(MODEL_COLORS)] for i in range(len(models))],
        "gt_color": GT_COLOR,
        "statuses": [list(s) for s in statuses],
        "sorts": [list(s) for s in sorts],
        "groups": groups if len(groups) > 1 else [],
        "group_name": group_name,
        "labels": labels,
        "page_size": PAGE_SIZES[0],
        "page_sizes": list(PAGE_SIZES),
    }


def _natural(value: str) -> tuple:
    """'step 10' after 'step 9': numbers compare as numbers."""
    import re

    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(value)))
