// PharmForge dashboard: four pages drawn from the public API (/api/v1), no
// framework, no build step. Every value from the API is set as text, never as
// HTML. Pages: runs (/), a run (/runs/{id}), a compound
// (/runs/{id}/compounds/{index}), the pipeline (/pipeline).
'use strict';

const API = '/api/v1';
const AUTH = document.documentElement.dataset.auth; // "jwt" or "off"
const TOKEN_KEY = 'pharmforge.token';
const SVG_NS = 'http://www.w3.org/2000/svg';
// What the page measured of itself (read by the browser test for its figures):
// lags of live progress behind the aggregator's commits (ms), and when each
// page first showed its data (ms since navigation start).
const PF = (window.pharmforge = { lags: [], drawn: {} });
function drawn(what) { if (!(what in PF.drawn)) PF.drawn[what] = Math.round(performance.now()); }

// ---------- small helpers ----------

/** An element: h('a', {href: '/'}, 'text', child, ...). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'style') el.style.cssText = v; // CSSOM: allowed by the page's style-src 'self'
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces an element's children, leaving out the absent ones (the DOM would write "null"). */
function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function token() { return sessionStorage.getItem(TOKEN_KEY); }

/** An API address with the token in the query (links, pictures, event streams cannot send a header). */
function withToken(path) {
  const t = AUTH === 'jwt' ? token() : null;
  if (!t) return path;
  return path + (path.includes('?') ? '&' : '?') + 'access_token=' + encodeURIComponent(t);
}

class ApiError extends Error {
  constructor(status, message, field) { super(message); this.status = status; this.field = field; }
}

/** Calls the API; JSON in and out; throws ApiError with the API's own message. */
async function api(path, opts = {}) {
  const headers = Object.assign({ Accept: 'application/json' }, opts.headers || {});
  if (AUTH === 'jwt' && token()) headers.Authorization = 'Bearer ' + token();
  let body = opts.body;
  if (opts.json !== undefined) { body = JSON.stringify(opts.json); headers['Content-Type'] = 'application/json'; }
  let res;
  try {
    res = await fetch(API + path, { method: opts.method || 'GET', headers, body, signal: opts.signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'The API cannot be reached: ' + e.message);
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { /* not JSON */ }
  if (!res.ok) {
    const err = data && data.error;
    if (res.status === 401 && AUTH === 'jwt') {
      sessionStorage.removeItem(TOKEN_KEY);
      showAuth('The API refused the token: ' + (err ? err.message : res.statusText));
    }
    throw new ApiError(res.status, err ? err.message : `${res.status} ${res.statusText}`, err && err.field);
  }
  return data;
}

const fmt = {
  num(v, digits = 2) {
    if (v === null || v === undefined || v === '') return '–';
    if (typeof v !== 'number') return String(v);
    if (Number.isInteger(v)) return v.toLocaleString('en');
    const a = Math.abs(v);
    if (a !== 0 && (a < 0.01 || a >= 1e5)) return v.toExponential(2);
    return v.toFixed(digits);
  },
  pct(v) { return v === null || v === undefined ? '–' : Math.round(v) + '%'; },
  age(iso) {
    if (!iso) return '–';
    const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (s < 60) return Math.round(s) + ' s ago';
    if (s < 3600) return Math.round(s / 60) + ' min ago';
    if (s < 86400) return (s / 3600).toFixed(1) + ' h ago';
    return Math.round(s / 86400) + ' d ago';
  },
  duration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return '–';
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return seconds + ' s';
    if (seconds < 3600) return Math.floor(seconds / 60) + ' min ' + (seconds % 60) + ' s';
    return Math.floor(seconds / 3600) + ' h ' + Math.round((seconds % 3600) / 60) + ' min';
  },
  time(iso) { return iso ? new Date(iso).toLocaleString() : '–'; },
};

function badge(status) { return h('span', { class: 'badge s-' + status }, status); }

function errorBox(e) {
  return h('p', { class: 'error', role: 'alert' }, e instanceof ApiError && e.status ? `${e.message} (HTTP ${e.status})` : String(e.message || e));
}

function debounce(fn, ms) {
  let t;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

// ---------- the page frame: routing, authentication ----------

let cleanup = [];
function onLeave(fn) { cleanup.push(fn); }

const main = () => document.getElementById('main');

function navigate(path, replace) {
  if (replace) history.replaceState(null, '', path); else history.pushState(null, '', path);
  route();
}

function route() {
  for (const fn of cleanup.splice(0)) { try { fn(); } catch (_) { /* leaving */ } }
  const path = location.pathname.replace(/\/+$/, '') || '/';
  const m = main();
  fill(m, );
  for (const a of document.querySelectorAll('[data-nav]')) {
    const section = path === '/pipeline' ? 'pipeline' : path === '/api/v1/docs' ? 'docs' : 'runs';
    const current = a.dataset.nav === section;
    if (current) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  if (AUTH === 'jwt' && !token()) { showAuth(); return; }
  let found;
  if (path === '/') runsPage(m);
  else if (path === '/pipeline') pipelinePage(m);
  else if (path === '/api/v1/docs') docsPage(m);
  else if ((found = path.match(/^\/runs\/(run_[0-9a-f]{16})$/))) runPage(m, found[1]);
  else if ((found = path.match(/^\/runs\/(run_[0-9a-f]{16})\/compounds\/(\d+)$/))) compoundPage(m, found[1], Number(found[2]));
  else { document.title = 'Not found · PharmForge'; m.append(h('h1', {}, 'Not found'), h('p', {}, 'No page here. ', h('a', { href: '/' }, 'Back to the runs'))); }
  m.focus({ preventScroll: true });
}

function showAuthState() {
  const el = document.getElementById('auth-state');
  fill(el, );
  if (AUTH === 'off') { el.append(h('span', { class: 'warn-dot', 'aria-hidden': 'true' }), 'Authentication is off'); return; }
  if (token()) {
    el.append('Signed in with a token ', h('button', { type: 'button', class: 'link', onclick: () => { sessionStorage.removeItem(TOKEN_KEY); showAuthState(); route(); } }, 'Sign out'));
  } else el.append('Not signed in');
}

function showAuth(message) {
  showAuthState();
  const m = main();
  fill(m, );
  document.title = 'Sign in · PharmForge';
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', required: true, 'aria-describedby': 'token-help' });
  const form = h('form', { class: 'card narrow', onsubmit: (e) => {
    e.preventDefault();
    const t = input.value.trim();
    if (!t) return;
    sessionStorage.setItem(TOKEN_KEY, t.replace(/^Bearer\s+/i, ''));
    showAuthState();
    route();
  } },
  h('h1', {}, 'Sign in'),
  h('label', { for: 'token' }, 'API token (JWT)'),
  input,
  h('p', { id: 'token-help', class: 'muted' }, 'The API asks for a bearer token (API_AUTH=jwt). It is kept for this browser session only and sent with every call.'),
  message ? h('p', { class: 'error', role: 'alert' }, message) : null,
  h('button', { type: 'submit', class: 'primary' }, 'Continue'));
  m.append(form);
  input.focus();
}

document.addEventListener('click', (e) => {
  const a = e.target.closest && e.target.closest('a[href]');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || (url.pathname.startsWith('/api/') && url.pathname !== '/api/v1/docs') || url.pathname.startsWith('/assets/') || a.hasAttribute('download') || a.target) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener('popstate', route);

// ---------- progress bars ----------

// The adapter registry, from the server (core's AdapterName): {name: {label, section, default_route}}.
const ADAPTERS = JSON.parse(document.documentElement.dataset.adapters || '{}');
const STAGE_LABEL = Object.fromEntries(Object.entries(ADAPTERS).map(([name, a]) => [name, a.label]));

function stageBar(name, counts, total, extra) {
  const done = counts.done || 0, failed = counts.failed || 0, skipped = counts.skipped || 0;
  const finished = done + failed + skipped;
  const pct = total > 0 ? (100 * finished) / total : 0;
  const part = (cls, n) => n > 0 ? h('span', { class: 'seg ' + cls, style: `width:${(100 * n) / total}%` }) : null;
  return h('div', { class: 'stage', 'data-stage': name },
    h('span', { class: 'stage-name' }, STAGE_LABEL[name] || name),
    h('span', { class: 'bar', role: 'progressbar', 'aria-label': (STAGE_LABEL[name] || name) + ' progress', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': Math.round(pct) },
      part('ok', done), part('bad', failed), part('skip', skipped)),
    h('span', { class: 'stage-pct' }, Math.floor(pct) + '%'),
    extra || null);
}

// ---------- runs page ----------

const STATUSES = ['all', 'pending', 'running', 'completed', 'failed', 'cancelled'];

function runsPage(m) {
  document.title = 'Runs · PharmForge';
  const params = new URLSearchParams(location.search);
  let status = STATUSES.includes(params.get('status')) ? params.get('status') : 'all';
  let page = Math.max(1, Number(params.get('page')) || 1);
  const pageSize = 20;

  const list = h('div', { class: 'table-wrap', 'aria-live': 'polite' });
  const pager = h('div', { class: 'pager' });
  const filters = h('div', { class: 'filters', role: 'group', 'aria-label': 'Status' },
    STATUSES.map((s) => h('button', { type: 'button', 'aria-pressed': String(s === status), onclick: () => {
      status = s; page = 1; syncUrl();
      for (const b of filters.children) b.setAttribute('aria-pressed', String(b.textContent === s));
      load();
    } }, s)));

  m.append(h('div', { class: 'page-head' }, h('h1', {}, 'Runs')), newRunForm(), h('section', { 'aria-labelledby': 'runs-h' },
    h('div', { class: 'section-head' }, h('h2', { id: 'runs-h' }, 'All runs'), filters), list, pager));

  function syncUrl() {
    const q = new URLSearchParams();
    if (status !== 'all') q.set('status', status);
    if (page > 1) q.set('page', page);
    history.replaceState(null, '', '/' + (q.toString() ? '?' + q : ''));
  }

  let busy = false;
  let lastSeen = null, lastDrawn = 0;
  async function load() {
    if (busy) return;
    busy = true;
    try {
      const q = new URLSearchParams({ page, page_size: pageSize });
      if (status !== 'all') q.set('status', status);
      const data = await api('/runs?' + q);
      // Redrawn only when something changed: a redraw would take the
      // keyboard focus away from a link in the table every 2 s.
      // (Ages are redrawn at least every 30 s.)
      const seen = `${status} ${page} ${JSON.stringify(data)}`;
      if (seen !== lastSeen || Date.now() - lastDrawn > 30000) { lastSeen = seen; lastDrawn = Date.now(); drawRuns(data); }
    } catch (e) {
      fill(list, errorBox(e));
    } finally { busy = false; }
  }

  function drawRuns(data) {
    if (!data.runs.length) {
      fill(list, h('p', { class: 'muted empty' }, status === 'all' ? 'No runs yet: start one above.' : `No ${status} runs.`));
    } else {
      const rows = data.runs.map((r) => h('tr', {},
        h('td', {}, h('a', { href: '/runs/' + r.run_id, class: 'mono' }, r.run_id)),
        h('td', {}, badge(r.status), r.priority !== 'normal' ? h('span', { class: 'tag' }, r.priority) : null),
        h('td', { class: 'stages-cell' }, Object.entries(r.stages).map(([name, c]) => stageBar(name, c, r.compounds.total))),
        h('td', { class: 'num' }, `${fmt.num(r.compounds.completed)} / ${fmt.num(r.compounds.total)}`, r.compounds.failed ? h('span', { class: 'bad-text' }, ` · ${fmt.num(r.compounds.failed)} failed`) : null),
        h('td', { title: fmt.time(r.created_at) }, fmt.age(r.created_at)),
        h('td', { class: 'muted' }, r.user_id || '')));
      fill(list, h('table', { class: 'grid runs' },
        h('caption', { class: 'sr-only' }, 'Runs, newest first'),
        h('thead', {}, h('tr', {}, ['Run', 'Status', 'Stages', 'Compounds', 'Created', 'User'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, rows)));
    }
    drawn('runs');
    const pages = Math.max(1, Math.ceil(data.total / pageSize));
    fill(pager, 
      h('button', { type: 'button', disabled: page <= 1, onclick: () => { page--; syncUrl(); load(); } }, '← Newer'),
      h('span', {}, `Page ${page} of ${pages} · ${fmt.num(data.total)} runs`),
      h('button', { type: 'button', disabled: page >= pages, onclick: () => { page++; syncUrl(); load(); } }, 'Older →'));
  }

  load();
  const timer = setInterval(() => { if (!document.hidden) load(); }, 2000);
  onLeave(() => clearInterval(timer));
}

function fileFormat(name) {
  const n = name.toLowerCase().replace(/\.gz$/, '');
  if (n.endsWith('.sdf') || n.endsWith('.sd') || n.endsWith('.mol')) return 'sdf';
  if (n.endsWith('.csv')) return 'csv';
  if (n.endsWith('.tsv') || n.endsWith('.tab')) return 'tsv';
  if (n.endsWith('.smi') || n.endsWith('.smiles') || n.endsWith('.txt')) return 'smi';
  return null;
}

/** Pasted lines: "SMILES" or "SMILES<space or tab>ID"; blank lines and # comments skipped. */
function parsePasted(text) {
  const compounds = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^(\S+)(?:[ \t]+(.+))?$/);
    const c = { smiles: m[1] };
    if (m[2]) c.id = m[2].trim();
    compounds.push(c);
  }
  return compounds;
}

function newRunForm() {
  const status = h('p', { class: 'form-status', role: 'status', 'aria-live': 'polite' });
  const text = h('textarea', { id: 'smiles', name: 'smiles', rows: 6, spellcheck: 'false', placeholder: 'CCO ethanol\nCC(=O)Oc1ccccc1C(=O)O aspirin\nc1ccccc1', 'aria-describedby': 'smiles-help' });
  const file = h('input', { id: 'file', type: 'file', accept: '.smi,.smiles,.txt,.csv,.tsv,.sdf,.sd,.gz' });
  const fileName = h('span', { class: 'muted' });
  const adapters = h('fieldset', { class: 'adapters' }, h('legend', {}, 'Adapters'), h('span', { class: 'muted' }, 'loading…'));
  const priority = h('select', { id: 'priority' }, ['normal', 'high', 'low'].map((p) => h('option', { value: p }, p)));
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Start run');
  let chosen = null;

  function pick(f) {
    if (!f) return;
    if (!fileFormat(f.name)) { fill(status, h('span', { class: 'error' }, `${f.name}: not a .smi, .csv, .tsv or .sdf file (optionally .gz)`)); return; }
    chosen = f;
    fileName.textContent = `${f.name} (${fmt.num(f.size)} bytes) will be uploaded instead of the text`;
    fill(status, );
  }
  file.addEventListener('change', () => pick(file.files[0]));
  const drop = h('div', { class: 'drop', ondragover: (e) => { e.preventDefault(); drop.classList.add('over'); }, ondragleave: () => drop.classList.remove('over'),
    ondrop: (e) => { e.preventDefault(); drop.classList.remove('over'); pick(e.dataTransfer.files[0]); } },
  h('label', { for: 'smiles' }, 'SMILES, one per line, optionally followed by an ID (space or tab)'),
  text,
  h('p', { id: 'smiles-help', class: 'muted' }, 'Or drop a .smi, .csv or .sdf file here, or ', h('label', { for: 'file', class: 'file-label' }, 'choose one'), ' ', file, ' ', fileName));

  api('/pipeline').then((p) => drawAdapters(p.adapters)).catch(() => drawAdapters(null));
  function drawAdapters(list) {
    const names = list ? list.map((a) => a.name) : Object.keys(STAGE_LABEL);
    const anyConnected = list && list.some((a) => a.replicas_connected > 0);
    fill(adapters, h('legend', {}, 'Adapters'), ...names.map((n) => {
      const a = list && list.find((x) => x.name === n);
      const connected = a ? a.replicas_connected : null;
      // The default route's adapters (those connected, when any is); one off it only when chosen.
      const ticked = (!ADAPTERS[n] || ADAPTERS[n].default_route) && (!list || !anyConnected || connected > 0);
      return h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'adapter', value: n, checked: ticked }), ' ', STAGE_LABEL[n] || n,
        connected === null ? null : h('span', { class: connected > 0 ? 'muted' : 'warn-text' }, connected > 0 ? ` (${connected} connected)` : ' (no replica connected)'));
    }));
  }

  async function onSubmit(e) {
    e.preventDefault();
    const route = [...adapters.querySelectorAll('input[name=adapter]:checked')].map((i) => i.value);
    if (!route.length) { fill(status, h('span', { class: 'error' }, 'Choose at least one adapter.')); return; }
    submit.disabled = true;
    status.textContent = 'Submitting…';
    try {
      let run;
      if (chosen) {
        const format = fileFormat(chosen.name);
        const q = new URLSearchParams({ adapters: route.join(','), priority: priority.value, format });
        const headers = { 'Content-Type': 'application/octet-stream' };
        if (chosen.name.toLowerCase().endsWith('.gz')) headers['Content-Encoding'] = 'gzip';
        run = await api('/runs?' + q, { method: 'POST', body: chosen, headers });
      } else {
        const compounds = parsePasted(text.value);
        if (!compounds.length) { fill(status, h('span', { class: 'error' }, 'Paste at least one SMILES, or choose a file.')); submit.disabled = false; return; }
        run = await api('/runs', { method: 'POST', json: { compounds, pipeline_config: { adapters: route, priority: priority.value } } });
      }
      navigate('/runs/' + run.run_id);
    } catch (err) {
      fill(status, errorBox(err));
      submit.disabled = false;
    }
  }

  return h('details', { class: 'card new-run', open: true },
    h('summary', {}, h('h2', {}, 'New run')),
    h('form', { id: 'new-run', onsubmit: onSubmit }, drop,
      h('div', { class: 'row' }, adapters,
        h('div', { class: 'field' }, h('label', { for: 'priority' }, 'Priority'), priority),
        h('div', { class: 'field end' }, submit)),
      status));
}

// ---------- run page ----------

/** The results table's columns: what it shows, how it sorts (the API's sort names). */
const COLUMNS = [
  { key: 'picture', label: 'Structure' },
  { key: 'id', label: 'ID', sort: 'id' },
  { key: 'rank', label: 'Rank', sort: 'rank', num: true },
  { key: 'score', label: 'Score', sort: 'final_score', num: true },
  { key: 'mw', label: 'MW', sort: 'mw', num: true, get: (r) => r.properties && r.properties.molecular_weight },
  { key: 'logp', label: 'logP', sort: 'logp', num: true, get: (r) => r.properties && r.properties.logp },
  { key: 'tpsa', label: 'TPSA', sort: 'tpsa', num: true, get: (r) => r.properties && r.properties.tpsa },
  { key: 'qed', label: 'QED', sort: 'qed', num: true, get: (r) => r.properties && r.properties.qed },
  { key: 'lipinski', label: 'Lipinski', sort: 'lipinski', num: true, get: (r) => r.properties && r.properties.lipinski_violations, title: 'Lipinski violations' },
  { key: 'herg', label: 'hERG', sort: 'herg', num: true, admet: 'hERG' },
  { key: 'ames', label: 'AMES', sort: 'ames', num: true, admet: 'AMES' },
  { key: 'dili', label: 'DILI', sort: 'dili', num: true, admet: 'DILI' },
  { key: 'bbb', label: 'BBB', sort: 'bbb', num: true, admet: 'BBB_Martins' },
  { key: 'sol', label: 'Solubility', sort: 'solubility', num: true, admet: 'Solubility_AqSolDB', title: 'log(mol/L)' },
  { key: 'cid', label: 'PubChem', sort: 'cid', num: true },
  { key: 'chembl', label: 'ChEMBL', sort: 'chembl_id' },
  { key: 'pchembl', label: 'pChEMBL', sort: 'best_pchembl', num: true, get: (r) => r.bioactivity && r.bioactivity.best_pchembl },
  { key: 'errors', label: 'Errors' },
];

/** ADMET-AI's section: {properties: {endpoint: value}, percentiles: {endpoint_drugbank_approved_percentile: p}, model}. */
function admetValue(admet, id) { return admet && admet.properties ? admet.properties[id] : undefined; }
function admetPercentile(admet, id) { return admet && admet.percentiles ? admet.percentiles[id + '_drugbank_approved_percentile'] : undefined; }

/** A compound whose SMILES RDKit could not read has no picture (asking for one is a 422). */
function drawable(r) {
  const errs = Object.values(r.errors || {}).join(' ');
  return !(/SMILES/i.test(errs) && !r.properties);
}

function pubchemLink(cid) {
  return h('a', { href: 'https://pubchem.ncbi.nlm.nih.gov/compound/' + encodeURIComponent(cid), rel: 'noopener', target: '_blank' }, String(cid));
}
function chemblLink(id) {
  return h('a', { href: 'https://www.ebi.ac.uk/chembl/explore/compound/' + encodeURIComponent(id), rel: 'noopener', target: '_blank' }, id);
}

function cell(col, r, runId) {
  switch (col.key) {
    case 'picture':
      return drawable(r)
        ? h('img', { class: 'mol', loading: 'lazy', width: 120, height: 90, alt: 'Structure of ' + (r.id || r.compound_id), src: withToken(`${API}/runs/${runId}/results/${r.index}/depiction.svg?width=120&height=90`) })
        : h('span', { class: 'muted' }, 'no structure');
    case 'id':
      return h('span', {}, h('a', { href: `/runs/${runId}/compounds/${r.index}` }, r.id || r.compound_id), h('br'), h('span', { class: 'smiles', title: r.smiles }, r.smiles));
    case 'rank': return r.rank === null ? '–' : String(r.rank);
    case 'score': {
      const parts = r.scores && typeof r.scores === 'object' ? Object.entries(r.scores).filter(([, v]) => typeof v === 'number') : [];
      return h('span', { title: parts.map(([k, v]) => `${k}: ${fmt.num(v, 3)}`).join('\n') || null },
        fmt.num(r.final_score, 3), parts.length ? h('span', { class: 'parts' }, parts.map(([k, v]) => `${k} ${fmt.num(v, 2)}`).join(' · ')) : null);
    }
    case 'cid': return r.pubchem && r.pubchem.cid ? pubchemLink(r.pubchem.cid) : (r.pubchem && r.pubchem.found === false ? 'not found' : '–');
    case 'chembl': return r.bioactivity && r.bioactivity.molecule_chembl_id ? chemblLink(r.bioactivity.molecule_chembl_id) : (r.bioactivity && r.bioactivity.found === false ? 'not found' : '–');
    case 'errors': {
      const e = Object.entries(r.errors || {});
      return e.length ? h('ul', { class: 'errs' }, e.map(([a, msg]) => h('li', { title: msg }, h('b', {}, a), ': ', msg.length > 80 ? msg.slice(0, 80) + '…' : msg))) : '';
    }
    default: {
      if (col.admet) {
        const v = admetValue(r.admet, col.admet);
        const p = admetPercentile(r.admet, col.admet);
        return h('span', { title: p === undefined ? null : `DrugBank-approved percentile: ${fmt.pct(p)}` }, fmt.num(v, 2));
      }
      return fmt.num(col.get(r), 2);
    }
  }
}

function runPage(m, runId) {
  document.title = runId + ' · PharmForge';
  const head = h('div', { class: 'page-head' }, h('h1', { class: 'mono' }, runId));
  const summary = h('section', { class: 'card run-summary', 'aria-label': 'Run status' }, h('p', { class: 'loading' }, 'Loading…'));
  const stages = h('div', { class: 'stages', 'aria-live': 'off' });
  const results = h('section', { 'aria-labelledby': 'results-h' });
  m.append(h('p', { class: 'crumbs' }, h('a', { href: '/' }, 'Runs'), ' / ', runId), head, summary, results);

  let run = null;
  const samples = []; // [time ms, finished steps per stage]
  let source = null;
  let closed = false;
  onLeave(() => { closed = true; if (source) source.close(); });

  api('/runs/' + runId).then((r) => {
    run = r;
    drawSummary();
    drawResultsSection();
    if (!isFinal(r.status)) listen();
  }).catch((e) => fill(summary, errorBox(e)));

  function isFinal(s) { return s === 'completed' || s === 'failed' || s === 'cancelled'; }

  function listen() {
    source = new EventSource(withToken(`${API}/runs/${runId}/events`));
    const onEvent = (ev) => {
      const s = JSON.parse(ev.data);
      if (s.updated_at) PF.lags.push(Date.now() - Date.parse(s.updated_at));
      if (ev.type === 'deleted') { fill(summary, h('p', { class: 'error' }, 'This run was deleted.')); source.close(); return; }
      Object.assign(run, s);
      drawSummary();
      refreshResultsSoon();
      if (isFinal(s.status)) {
        source.close();
        // The finished run carries its summary and lockfile.
        api('/runs/' + runId).then((r) => { run = r; drawSummary(); refreshResults(); }).catch(() => {});
      }
    };
    for (const t of ['progress', 'completed', 'failed', 'cancelled', 'deleted']) source.addEventListener(t, onEvent);
    source.onerror = () => { if (closed) return; /* EventSource reconnects by itself, with Last-Event-ID */ };
  }

  function rates() {
    const now = Date.now();
    const finished = {};
    for (const [name, c] of Object.entries(run.stages)) finished[name] = (c.done || 0) + (c.failed || 0) + (c.skipped || 0);
    samples.push([now, finished]);
    while (samples.length > 2 && now - samples[0][0] > 15000) samples.shift();
    const out = {};
    const [t0, f0] = samples[0];
    for (const name of Object.keys(finished)) {
      const dt = (now - t0) / 1000;
      out[name] = dt >= 1 ? (finished[name] - (f0[name] || 0)) / dt : null;
    }
    return out;
  }

  function drawSummary() {
    const r = run;
    const total = r.compounds.total;
    const rate = isFinal(r.status) ? {} : rates();
    const bars = Object.entries(r.stages).map(([name, c]) => {
      const left = c.pending;
      const per = rate[name];
      const extra = isFinal(r.status) || left === 0 ? null
        : h('span', { class: 'stage-rate muted' }, per === null || per === undefined ? 'measuring…' : per > 0 ? `${fmt.num(per, 1)}/s · ETA ${fmt.duration(left / per)}` : 'waiting');
      return stageBar(name, c, total, extra);
    });
    fill(stages, ...bars);
    const actions = h('div', { class: 'actions' },
      !isFinal(r.status) ? h('button', { type: 'button', class: 'danger-outline', onclick: cancel }, 'Cancel run') : null,
      h('button', { type: 'button', class: 'danger', onclick: remove }, 'Delete run'));
    const downloads = h('div', { class: 'downloads' }, 'Download ',
      ['csv', 'sdf', 'jsonl'].map((f) => h('a', { class: 'button', href: withToken(`${API}/runs/${runId}/export?format=${f}`), download: `${runId}.${f}` }, f.toUpperCase())));
    const started = Date.parse(r.created_at);
    const ended = r.completed_at ? Date.parse(r.completed_at) : Date.now();
    const facts = h('dl', { class: 'facts' },
      h('dt', {}, 'Status'), h('dd', {}, badge(r.status)),
      h('dt', {}, 'Priority'), h('dd', {}, r.priority || 'normal'),
      h('dt', {}, 'Compounds'), h('dd', {}, `${fmt.num(r.compounds.completed)} completed · ${fmt.num(r.compounds.failed)} failed · ${fmt.num(r.compounds.total)} in all`),
      h('dt', {}, 'Created'), h('dd', { title: r.created_at }, `${fmt.time(r.created_at)} (${fmt.age(r.created_at)})`),
      h('dt', {}, isFinal(r.status) ? 'Took' : 'Running for'), h('dd', {}, fmt.duration((ended - started) / 1000)),
      r.user_id ? [h('dt', {}, 'User'), h('dd', {}, r.user_id)] : null,
      r.admission && r.admission.waiting > 0 ? [h('dt', {}, 'Waiting for admission'), h('dd', {}, fmt.num(r.admission.waiting))] : null);
    const lock = r.lockfile && Object.keys(r.lockfile).length
      ? h('details', { class: 'lockfile' }, h('summary', {}, 'Lockfile (adapter and model versions)'),
        h('table', { class: 'kv' }, h('tbody', {}, Object.entries(r.lockfile).map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', { class: 'mono' }, typeof v === 'string' ? v : Array.isArray(v) && v.every((x) => typeof x === 'string') ? v.join(', ') : JSON.stringify(v)))))))
      : null;
    fill(summary, 
      h('div', { class: 'summary-grid' }, facts, h('div', {}, h('h2', { class: 'sr-only' }, 'Stages'), stages)),
      r.error_message ? h('p', { class: r.status === 'cancelled' ? 'muted' : 'error' }, r.error_message) : null,
      h('div', { class: 'summary-foot' }, downloads, actions), lock);
  }

  async function cancel() {
    if (!confirm(`Cancel ${runId}? Compounds already finished keep their results; the rest are skipped.`)) return;
    try { await api(`/runs/${runId}/cancel`, { method: 'POST' }); run.status = 'cancelled'; drawSummary(); } catch (e) { summary.prepend(errorBox(e)); }
  }
  async function remove() {
    if (!confirm(`Delete ${runId} and all its results? This cannot be undone.`)) return;
    try { await api(`/runs/${runId}`, { method: 'DELETE' }); navigate('/'); } catch (e) { summary.prepend(errorBox(e)); }
  }

  // The results table: server-side sorting, filtering and paging.
  const params = new URLSearchParams(location.search);
  const state = { sort: params.get('sort') || 'index', order: params.get('order') || 'asc', failed: params.get('failed') === 'true', q: params.get('q') || '', page: Math.max(1, Number(params.get('page')) || 1), size: 50 };
  const tableWrap = h('div', { class: 'table-wrap results-wrap', 'aria-live': 'polite', 'aria-busy': 'false' });
  const pager = h('div', { class: 'pager' });
  let lastRefresh = 0, pending = null;

  function drawResultsSection() {
    const search = h('input', { type: 'search', id: 'search', value: state.q, placeholder: 'ID or SMILES', 'aria-label': 'Search by ID or SMILES' });
    search.addEventListener('input', debounce(() => { state.q = search.value.trim(); state.page = 1; refreshResults(); }, 300));
    const failed = h('input', { type: 'checkbox', id: 'failed-only', checked: state.failed });
    failed.addEventListener('change', () => { state.failed = failed.checked; state.page = 1; refreshResults(); });
    fill(results, 
      h('div', { class: 'section-head' }, h('h2', { id: 'results-h' }, 'Results'),
        h('div', { class: 'tools' }, search, h('label', { class: 'check' }, failed, ' Failed only'))),
      tableWrap, pager);
    refreshResults();
  }

  function refreshResultsSoon() {
    const wait = 3000 - (Date.now() - lastRefresh);
    if (pending) return;
    pending = setTimeout(() => { pending = null; refreshResults(); }, Math.max(0, wait));
  }
  onLeave(() => clearTimeout(pending));

  let loadSeq = 0;
  async function refreshResults() {
    lastRefresh = Date.now();
    const mine = ++loadSeq;
    const q = new URLSearchParams({ view: 'table', page: state.page, page_size: state.size });
    if (state.sort !== 'index') q.set('sort', state.sort);
    if (state.order === 'desc') q.set('order', 'desc');
    if (state.failed) q.set('failed', 'true');
    if (state.q) q.set('q', state.q);
    const u = new URLSearchParams();
    for (const k of ['sort', 'order', 'q', 'page']) if (q.get(k) && !(k === 'page' && state.page === 1)) u.set(k, q.get(k));
    if (state.failed) u.set('failed', 'true');
    window.history.replaceState(null, '', location.pathname + (u.toString() ? '?' + u : ''));
    tableWrap.setAttribute('aria-busy', 'true');
    try {
      const data = await api(`/runs/${runId}/results?` + q);
      if (mine !== loadSeq) return;
      drawTable(data);
    } catch (e) {
      if (mine === loadSeq) fill(tableWrap, errorBox(e));
    } finally { tableWrap.setAttribute('aria-busy', 'false'); }
  }

  function drawTable(data) {
    const head = h('tr', {}, COLUMNS.map((c) => {
      if (!c.sort) return h('th', { scope: 'col' }, c.label);
      const active = state.sort === c.sort || (c.sort === 'final_score' && state.sort === 'score');
      const aria = active ? (state.order === 'desc' ? 'descending' : 'ascending') : null;
      return h('th', { scope: 'col', 'aria-sort': aria, class: c.num ? 'num' : null },
        h('button', { type: 'button', class: 'sort', title: c.title || ('Sort by ' + c.label), onclick: () => {
          if (active) state.order = state.order === 'asc' ? 'desc' : 'asc';
          else { state.sort = c.sort; state.order = c.sort === 'final_score' || c.sort === 'qed' ? 'desc' : 'asc'; }
          state.page = 1; refreshResults();
        } }, c.label, h('span', { class: 'arrow', 'aria-hidden': 'true' }, active ? (state.order === 'desc' ? ' ▼' : ' ▲') : '')));
    }));
    const rows = data.results.map((r) => h('tr', { class: r.status === 'failed' ? 'failed' : null, 'data-index': r.index },
      COLUMNS.map((c) => h('td', { class: c.num ? 'num' : ('c-' + c.key) }, cell(c, r, runId)))));
    fill(tableWrap, data.results.length
      ? h('table', { class: 'grid results' }, h('caption', { class: 'sr-only' }, 'Compound results'), h('thead', {}, head), h('tbody', {}, rows))
      : h('p', { class: 'muted empty' }, state.q || state.failed ? 'No compound matches.' : 'No results yet.'));
    drawn('results');
    const pages = Math.max(1, Math.ceil(data.total / state.size));
    const go = (p) => { state.page = p; refreshResults(); };
    fill(pager, 
      h('button', { type: 'button', disabled: state.page <= 1, onclick: () => go(1) }, '« First'),
      h('button', { type: 'button', disabled: state.page <= 1, onclick: () => go(state.page - 1) }, '← Previous'),
      h('span', {}, `Page ${fmt.num(state.page)} of ${fmt.num(pages)} · ${fmt.num(data.total)} compounds`),
      h('button', { type: 'button', disabled: state.page >= pages, onclick: () => go(state.page + 1) }, 'Next →'),
      h('button', { type: 'button', disabled: state.page >= pages, onclick: () => go(pages) }, 'Last »'));
  }
}

// ---------- compound page ----------

/** ADMET-AI's own grouping and names of its properties (its data/admet.csv). */
const ADMET_GROUPS = [
  ['Physicochemical', [['molecular_weight', 'Molecular Weight', 'Dalton'], ['logP', 'LogP', 'log-ratio'], ['hydrogen_bond_acceptors', 'Hydrogen Bond Acceptors', '#'], ['hydrogen_bond_donors', 'Hydrogen Bond Donors', '#'], ['Lipinski', 'Lipinski Rule of 5', '# of 4'], ['QED', 'Quantitative Estimate of Druglikeness (QED)', ''], ['stereo_centers', 'Stereo Centers', '#'], ['tpsa', 'Topological Polar Surface Area (TPSA)', 'Å²'], ['PAINS_alert', 'PAINS Alert', '#'], ['BRENK_alert', 'BRENK Alert', '#'], ['NIH_alert', 'NIH Alert', '#']]],
  ['Absorption', [['HIA_Hou', 'Human Intestinal Absorption', ''], ['Bioavailability_Ma', 'Oral Bioavailability', ''], ['Solubility_AqSolDB', 'Aqueous Solubility', 'log(mol/L)'], ['Lipophilicity_AstraZeneca', 'Lipophilicity', 'log-ratio'], ['HydrationFreeEnergy_FreeSolv', 'Hydration Free Energy', 'kcal/mol'], ['Caco2_Wang', 'Cell Effective Permeability', 'log(10⁻⁶ cm/s)'], ['PAMPA_NCATS', 'PAMPA Permeability', ''], ['Pgp_Broccatelli', 'P-glycoprotein Inhibition', '']]],
  ['Distribution', [['BBB_Martins', 'Blood-Brain Barrier Penetration', ''], ['PPBR_AZ', 'Plasma Protein Binding Rate', '%'], ['VDss_Lombardo', 'Volume of Distribution at Steady State', 'L/kg']]],
  ['Metabolism', [['CYP1A2_Veith', 'CYP1A2 Inhibition', ''], ['CYP2C19_Veith', 'CYP2C19 Inhibition', ''], ['CYP2C9_Veith', 'CYP2C9 Inhibition', ''], ['CYP2D6_Veith', 'CYP2D6 Inhibition', ''], ['CYP3A4_Veith', 'CYP3A4 Inhibition', ''], ['CYP2C9_Substrate_CarbonMangels', 'CYP2C9 Substrate', ''], ['CYP2D6_Substrate_CarbonMangels', 'CYP2D6 Substrate', ''], ['CYP3A4_Substrate_CarbonMangels', 'CYP3A4 Substrate', '']]],
  ['Excretion', [['Half_Life_Obach', 'Half Life', 'hr'], ['Clearance_Hepatocyte_AZ', 'Drug Clearance (Hepatocyte)', 'µL/min/10⁶ cells'], ['Clearance_Microsome_AZ', 'Drug Clearance (Microsome)', 'µL/min/mg']]],
  ['Toxicity', [['hERG', 'hERG Blocking', ''], ['ClinTox', 'Clinical Toxicity', ''], ['AMES', 'Mutagenicity', ''], ['DILI', 'Drug Induced Liver Injury', ''], ['Carcinogens_Lagunin', 'Carcinogenicity', ''], ['LD50_Zhu', 'Acute Toxicity LD50', 'log(1/(mol/kg))'], ['Skin_Reaction', 'Skin Reaction', ''], ['NR-AR', 'Androgen Receptor (Full Length)', ''], ['NR-AR-LBD', 'Androgen Receptor (Ligand Binding Domain)', ''], ['NR-AhR', 'Aryl Hydrocarbon Receptor', ''], ['NR-Aromatase', 'Aromatase', ''], ['NR-ER', 'Estrogen Receptor (Full Length)', ''], ['NR-ER-LBD', 'Estrogen Receptor (Ligand Binding Domain)', ''], ['NR-PPAR-gamma', 'PPAR Gamma', ''], ['SR-ARE', 'Antioxidant Responsive Element', ''], ['SR-ATAD5', 'ATAD5', ''], ['SR-HSE', 'Heat Shock Factor Response Element', ''], ['SR-MMP', 'Mitochondrial Membrane Potential', ''], ['SR-p53', 'Tumor Protein p53', '']]],
];

/**
 * The five-axis summary the ADMET-AI server draws (admet_ai/plot.py,
 * plot_radial_summary): DrugBank-approved percentiles, turned so that
 * outward is better; axes start at the top and go counter-clockwise.
 */
function radialValues(admet) {
  const p = (k) => admetPercentile(admet, k);
  const axes = [
    ['Blood-Brain Barrier Safe', 100 - p('BBB_Martins')],
    ['Non-Toxic', 100 - p('ClinTox')],
    ['Soluble', p('Solubility_AqSolDB')],
    ['Bioavailable', p('Bioavailability_Ma')],
    ['hERG Safe', 100 - p('hERG')],
  ];
  return axes.every(([, v]) => typeof v === 'number' && isFinite(v)) ? axes : null;
}

function radialPlot(axes) {
  const size = 320, c = size / 2, R = 105;
  const point = (i, v) => {
    const a = Math.PI / 2 + (2 * Math.PI * i) / axes.length;
    return [c + (R * v / 100) * Math.cos(a), c - (R * v / 100) * Math.sin(a)];
  };
  const ring = (v) => axes.map((_, i) => point(i, v).join(',')).join(' ');
  const shape = axes.map(([, v], i) => point(i, Math.max(0, Math.min(100, v))).join(',')).join(' ');
  const plot = svg('svg', { viewBox: `0 0 ${size} ${size}`, width: size, height: size, role: 'img', class: 'radial', 'aria-label': 'DrugBank-approved percentiles: ' + axes.map(([n, v]) => `${n} ${Math.round(v)}`).join(', ') },
    [25, 50, 75, 100].map((v) => svg('polygon', { points: ring(v), class: 'ring' })),
    axes.map((_, i) => { const [x, y] = point(i, 100); return svg('line', { x1: c, y1: c, x2: x, y2: y, class: 'spoke' }); }),
    [25, 50, 75, 100].map((v) => { const [x, y] = point(0, v); return svg('text', { x: x + 4, y: y + 4, class: 'tick' }, String(v)); }),
    svg('polygon', { points: shape, class: 'shape' }),
    axes.map(([name, v], i) => {
      const [x, y] = point(i, 124);
      const anchor = Math.abs(x - c) < 10 ? 'middle' : x > c ? 'start' : 'end';
      return svg('text', { x, y: y + 4, 'text-anchor': anchor, class: 'axis' }, `${name} (${Math.round(v)})`);
    }));
  return plot;
}

function kvTable(obj, skip) {
  const rows = Object.entries(obj || {}).filter(([k]) => !(skip || []).includes(k)).map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k),
    h('td', { class: typeof v === 'number' ? 'num' : null }, typeof v === 'number' ? fmt.num(v, 3) : v === null ? '–' : typeof v === 'object' ? JSON.stringify(v) : String(v))));
  return h('table', { class: 'kv' }, h('tbody', {}, rows));
}

function compoundPage(m, runId, index) {
  document.title = `Compound ${index} · ${runId} · PharmForge`;
  m.append(h('p', { class: 'crumbs' }, h('a', { href: '/' }, 'Runs'), ' / ', h('a', { href: '/runs/' + runId }, runId), ' / compound ' + index), h('p', { class: 'loading' }, 'Loading…'));
  Promise.all([api(`/runs/${runId}/results/${index}`), api(`/runs/${runId}`).catch(() => null)]).then(([r, run]) => draw(r, run)).catch((e) => fill(m, m.firstChild, errorBox(e)));

  function draw(r, run) {
    const name = r.id || r.compound_id;
    document.title = `${name} · PharmForge`;
    const parts = r.scores && typeof r.scores === 'object' ? Object.entries(r.scores) : [];
    const top = h('section', { class: 'compound-top' },
      h('div', { class: 'picture card' }, drawable(r)
        ? h('img', { class: 'mol-large', width: 400, height: 300, alt: 'Structure of ' + name, src: withToken(`${API}/runs/${runId}/results/${index}/depiction.svg?width=400&height=300`) })
        : h('p', { class: 'muted' }, 'RDKit cannot read this SMILES: no picture.')),
      h('div', { class: 'card' },
        h('h1', {}, name),
        h('dl', { class: 'facts' },
          h('dt', {}, 'SMILES'), h('dd', { class: 'mono wrap' }, r.smiles),
          h('dt', {}, 'Compound'), h('dd', { class: 'mono' }, `${r.compound_id} (index ${r.index})`),
          h('dt', {}, 'Status'), h('dd', {}, badge(r.status)),
          h('dt', {}, 'Rank'), h('dd', {}, r.rank === null ? 'unranked' : String(r.rank) + (r.pareto_front ? ` (Pareto front ${r.pareto_front})` : '')),
          h('dt', {}, 'Final score'), h('dd', {}, fmt.num(r.final_score, 3), parts.length ? h('span', { class: 'parts' }, parts.map(([k, v]) => `${k} ${typeof v === 'number' ? fmt.num(v, 3) : JSON.stringify(v)}`).join(' · ')) : null),
          h('dt', {}, 'Trace id'), h('dd', { class: 'mono', id: 'trace-id' }, r.trace_id || '–'))));
    const sections = [top];

    // Every adapter's outcome: its error, or where its data came from.
    const route = run ? (run.pipeline_config.adapters || Object.keys(run.stages)) : Object.keys(STAGE_LABEL);
    sections.push(h('section', { class: 'card' }, h('h2', {}, 'Adapters'), h('table', { class: 'grid' },
      h('thead', {}, h('tr', {}, ['Adapter', 'Outcome', 'Source'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, route.map((a) => {
        const err = r.errors && r.errors[a];
        const sec = ADAPTERS[a] ? r[ADAPTERS[a].section] : null;
        const src = sec && typeof sec === 'object' ? [sec.source, sec.retrieved_at ? 'retrieved ' + fmt.time(sec.retrieved_at) : null, sec.cache_hit ? 'from cache' : null].filter(Boolean).join(' · ') : '';
        const prov = run && run.lockfile && run.lockfile[a];
        return h('tr', {}, h('th', { scope: 'row' }, STAGE_LABEL[a] || a),
          h('td', { class: err ? 'bad-text' : null }, err || (sec ? 'ok' : '–')),
          h('td', { class: 'muted' }, [src, Array.isArray(prov) ? prov.join(', ') : typeof prov === 'string' ? prov : null].filter(Boolean).join(' · ')));
      })))));

    if (r.properties) sections.push(h('section', { class: 'card' }, h('h2', {}, 'Properties (RDKit)'), kvTable(r.properties, ['source'])));

    if (r.admet && typeof r.admet === 'object') {
      const axes = radialValues(r.admet);
      const known = new Set();
      const predictions = r.admet.properties || {};
      const groups = ADMET_GROUPS.map(([group, props]) => {
        const rows = props.filter(([id]) => id in predictions).map(([id, label, unit]) => {
          known.add(id);
          const v = predictions[id], p = admetPercentile(r.admet, id);
          return h('tr', {}, h('th', { scope: 'row', title: id }, label), h('td', { class: 'num' }, fmt.num(v, 3)), h('td', { class: 'muted' }, unit),
            h('td', { class: 'pct' }, typeof p === 'number' ? [h('span', { class: 'pbar', 'aria-hidden': 'true' }, h('span', { style: `width:${Math.max(0, Math.min(100, p))}%` })), ' ', fmt.pct(p)] : '–'));
        });
        return rows.length ? h('div', { class: 'admet-group' }, h('h3', {}, group), h('div', { class: 'table-wrap' }, h('table', { class: 'grid admet' },
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Property'), h('th', { scope: 'col', class: 'num' }, 'Prediction'), h('th', { scope: 'col' }, 'Unit'), h('th', { scope: 'col' }, 'DrugBank-approved percentile'))),
          h('tbody', {}, rows)))) : null;
      });
      const rest = Object.fromEntries(Object.entries(predictions).filter(([k]) => !known.has(k)));
      sections.push(h('section', { class: 'card' }, h('h2', {}, 'ADMET (ADMET-AI)'), r.admet.model ? h('p', { class: 'muted' }, r.admet.model) : null,
        h('div', { class: 'admet-top' }, axes ? h('figure', { class: 'radial-fig' }, radialPlot(axes), h('figcaption', { class: 'muted' }, 'DrugBank-approved percentiles, as the ADMET-AI server summarises them (outward is better).')) : h('p', { class: 'muted' }, 'No percentiles for the radial summary.')),
        groups, Object.keys(rest).length ? h('details', {}, h('summary', {}, 'Other fields'), kvTable(rest)) : null));
    }

    if (r.pubchem && typeof r.pubchem === 'object') {
      const p = r.pubchem;
      sections.push(h('section', { class: 'card' }, h('h2', {}, 'PubChem'),
        p.cid ? h('p', {}, 'CID ', pubchemLink(p.cid)) : h('p', { class: 'muted' }, p.note || 'Not in PubChem'),
        kvTable(p, ['synonyms', 'cid']),
        Array.isArray(p.synonyms) && p.synonyms.length ? [h('h3', {}, 'Synonyms'), h('ul', { class: 'synonyms' }, p.synonyms.map((s) => h('li', {}, s)))] : null));
    }

    if (r.bioactivity && typeof r.bioactivity === 'object') {
      const b = r.bioactivity;
      const acts = Array.isArray(b.activities) ? b.activities : [];
      const targets = Array.isArray(b.targets) ? b.targets : [];
      sections.push(h('section', { class: 'card' }, h('h2', {}, 'ChEMBL'),
        b.molecule_chembl_id ? h('p', {}, chemblLink(b.molecule_chembl_id), ` · best pChEMBL ${fmt.num(b.best_pchembl, 2)} · ${fmt.num(b.num_activities)} activities on ${fmt.num(b.num_targets)} targets`) : h('p', { class: 'muted' }, b.note || 'Not in ChEMBL'),
        targets.length ? [h('h3', {}, 'Targets'), h('div', { class: 'table-wrap' }, h('table', { class: 'grid' },
          h('thead', {}, h('tr', {}, ['Target', 'Name', 'Organism', 'Best pChEMBL', 'Activities'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, targets.map((t) => h('tr', {}, h('td', { class: 'mono' }, t.target_chembl_id), h('td', {}, t.pref_name || ''), h('td', {}, t.organism || ''), h('td', { class: 'num' }, fmt.num(t.best_pchembl, 2)), h('td', { class: 'num' }, fmt.num(t.n)))))))] : null,
        acts.length ? [h('h3', {}, 'Activities'), h('div', { class: 'table-wrap' }, h('table', { class: 'grid activities' },
          h('thead', {}, h('tr', {}, ['Assay', 'Type', 'Target', 'Measure', 'Value', 'Units', 'pChEMBL'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, acts.map((a) => h('tr', {}, h('td', { class: 'mono' }, a.assay_chembl_id || ''), h('td', {}, a.assay_type || ''),
            h('td', {}, a.target_pref_name || a.target_chembl_id || ''), h('td', {}, a.standard_type || ''),
            h('td', { class: 'num' }, (a.standard_relation && a.standard_relation !== '=' ? a.standard_relation + ' ' : '') + fmt.num(a.standard_value, 2)),
            h('td', {}, a.standard_units || ''), h('td', { class: 'num' }, fmt.num(a.pchembl_value, 2)))))))] : null));
    }

    // Any other adapter's section (a new kind with no card of its own yet), as a table of its fields.
    const drawn = ['properties', 'admet', 'pubchem', 'bioactivity'];
    for (const a of route) {
      const sec = ADAPTERS[a] && ADAPTERS[a].section;
      if (sec && !drawn.includes(sec) && r[sec] && typeof r[sec] === 'object') sections.push(h('section', { class: 'card' }, h('h2', {}, STAGE_LABEL[a] || a), kvTable(r[sec])));
    }

    if (r.input_properties && typeof r.input_properties === 'object' && Object.keys(r.input_properties).length) {
      sections.push(h('section', { class: 'card' }, h('h2', {}, 'As given (input data items)'), kvTable(r.input_properties)));
    }
    fill(m, m.firstChild, ...sections);
  }
}

// ---------- pipeline page ----------

const THROTTLE = { 1: 'Green', 2: 'Yellow', 4: 'Red', 8: 'Black' };

function pipelinePage(m) {
  document.title = 'Pipeline · PharmForge';
  const body = h('div', { 'aria-live': 'polite' }, h('p', { class: 'loading' }, 'Loading…'));
  const stamp = h('span', { class: 'muted' });
  m.append(h('div', { class: 'page-head' }, h('h1', {}, 'Pipeline'), stamp), body);
  let busy = false;
  async function load() {
    if (busy) return;
    busy = true;
    try { draw(await api('/pipeline')); stamp.textContent = 'updated ' + new Date().toLocaleTimeString(); } catch (e) { fill(body, errorBox(e)); } finally { busy = false; }
  }
  function draw(p) {
    const adapters = h('table', { class: 'grid pipeline' },
      h('caption', { class: 'sr-only' }, 'Adapters'),
      h('thead', {}, h('tr', {}, ['Adapter', 'Replicas', 'Backlog', 'In flight', 'Redelivered', `Throughput (${p.window_seconds} s)`, 'Errors', 'Dead letters'].map((t, i) => h('th', { scope: 'col', class: i ? 'num' : null }, t)))),
      h('tbody', {}, p.adapters.map((a) => h('tr', { 'data-adapter': a.name },
        h('th', { scope: 'row' }, STAGE_LABEL[a.name] || a.name, h('br'), h('span', { class: 'muted mono' }, a.name)),
        h('td', { class: 'num' + (a.replicas_connected ? '' : ' warn-text') }, String(a.replicas_connected)),
        h('td', { class: 'num' }, fmt.num(a.pending)),
        h('td', { class: 'num' }, fmt.num(a.in_flight)),
        h('td', { class: 'num' }, fmt.num(a.redelivered)),
        h('td', { class: 'num' }, fmt.num(a.per_second, 1) + '/s'),
        h('td', { class: 'num' }, fmt.num(a.errors_per_second, 1) + '/s'),
        h('td', { class: 'num' + (a.dead_letters.total ? ' bad-text' : '') }, fmt.num(a.dead_letters.total))))));
    const replicas = p.adapters.flatMap((a) => a.replicas.map((r) => h('tr', {}, h('td', {}, STAGE_LABEL[a.name] || a.name), h('td', { class: 'mono' }, r.instance), h('td', {}, r.provenance),
      h('td', { class: 'num' }, fmt.num(r.forwarded)), h('td', { class: 'num' }, fmt.num(r.per_second, 1) + '/s'), h('td', {}, `${r.batch_size} × ${r.concurrency}`), h('td', {}, fmt.age(r.started_at)), h('td', { class: 'num' }, fmt.num(r.last_seen_ms_ago / 1000, 1) + ' s'))));
    const dead = p.adapters.flatMap((a) => a.dead_letters.recent.map((d) => h('tr', {}, h('td', {}, STAGE_LABEL[a.name] || a.name), h('td', {}, fmt.time(d.at)),
      h('td', {}, d.compound ? (d.compound.match(/^run_[0-9a-f]{16}\/\d+$/) ? h('a', { href: '/runs/' + d.compound.replace('/', '/compounds/') }, d.compound) : d.compound) : '–'),
      h('td', { class: 'num' }, d.deliveries === null ? '–' : String(d.deliveries)), h('td', { class: 'wrap' }, d.reason || '–'))));
    const limits = p.rate_limits.map((l) => h('tr', {}, h('th', { scope: 'row' }, l.service),
      h('td', { class: l.slow_down > 1 ? 'warn-text' : null }, `×${fmt.num(l.slow_down)} (${THROTTLE[l.slow_down] || 'custom'})`),
      h('td', { class: l.paused_for_ms ? 'bad-text' : null }, l.paused_for_ms ? 'paused for ' + fmt.duration(l.paused_for_ms / 1000) : 'no'),
      h('td', {}, l.next_slot_in_ms ? fmt.duration(l.next_slot_in_ms / 1000) + ' ahead' : 'free now')));
    fill(body, 
      h('section', { class: 'card' }, h('h2', {}, 'Adapters'), h('div', { class: 'table-wrap' }, adapters),
        h('p', { class: 'muted' }, `Aggregator: ${fmt.num(p.aggregator.pending)} waiting, ${fmt.num(p.aggregator.in_flight)} in flight. Backlog: records waiting for a replica; in flight: delivered, not yet acknowledged. Replicas beat every ${p.heartbeat_seconds} s.`)),
      h('section', { class: 'card' }, h('h2', {}, 'Replicas connected'), replicas.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, ['Adapter', 'Instance', 'Version', 'Records', 'Throughput', 'Batch × concurrency', 'Started', 'Last heard'].map((t) => h('th', { scope: 'col' }, t)))), h('tbody', {}, replicas))) : h('p', { class: 'warn-text' }, 'No adapter replica is connected.')),
      h('section', { class: 'card' }, h('h2', {}, 'External services'), limits.length ? h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, ['Service', 'Slow-down (server signal)', 'Paused', 'Next request slot'].map((t) => h('th', { scope: 'col' }, t)))), h('tbody', {}, limits)) : h('p', { class: 'muted' }, 'No web adapter has sent a request yet.')),
      h('section', { class: 'card' }, h('h2', {}, 'Dead letters'), dead.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, ['Adapter', 'When', 'Compound', 'Deliveries', 'Reason'].map((t) => h('th', { scope: 'col' }, t)))), h('tbody', {}, dead))) : h('p', { class: 'muted' }, 'None.')));
  }
  load();
  const timer = setInterval(() => { if (!document.hidden) load(); }, 2000);
  onLeave(() => clearInterval(timer));
}

// ---------- API reference (/api/v1/docs) ----------

/** The API's own OpenAPI document, readable, with a form to try each call. */
function docsPage(m) {
  document.title = 'API reference · PharmForge';
  m.append(h('div', { class: 'page-head' }, h('h1', {}, 'API reference')), h('p', { class: 'loading' }, 'Loading…'));
  api('/openapi.json').then(draw).catch((e) => fill(m, m.firstChild, errorBox(e)));

  function resolve(doc, node) {
    if (node && node.$ref) return node.$ref.split('/').slice(1).reduce((o, k) => o && o[k], doc);
    return node;
  }
  // OpenAPI 3.1: a type may be a list (["integer", "null"]).
  function typeOf(schema) {
    if (!schema) return '';
    if (schema.$ref) return schema.$ref.split('/').pop();
    if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
    const types = [].concat(schema.type || []);
    if (types.includes('array')) return [typeOf(schema.items) + '[]', ...types.filter((t) => t !== 'array')].join(' | ');
    if (types.length) return types.join(' | ');
    return schema.oneOf ? schema.oneOf.map(typeOf).join(' | ') : 'object';
  }

  function draw(doc) {
    const ops = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      const shared = item.parameters || [];
      for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
        if (item[method]) ops.push({ path, method, op: item[method], params: [...shared, ...(item[method].parameters || [])].map((p) => resolve(doc, p)) });
      }
    }
    const list = ops.map(({ path, method, op, params }) => operation(doc, path, method, op, params));
    const schemas = Object.entries((doc.components && doc.components.schemas) || {}).map(([name, schema]) =>
      h('details', { class: 'schema', id: 'schema-' + name }, h('summary', {}, h('code', {}, name)), h('pre', { class: 'json' }, JSON.stringify(schema, null, 2))));
    fill(m, m.firstChild,
      h('p', {}, doc.info.description || ''),
      h('p', { class: 'muted' }, `OpenAPI ${doc.openapi} · version ${doc.info.version} · `, h('a', { href: API + '/openapi.json' }, 'openapi.json'),
        AUTH === 'jwt' ? ' · calls made here carry your token' : ' · authentication is off'),
      h('section', { 'aria-label': 'Operations' }, list),
      h('h2', {}, 'Schemas'), schemas);
  }

  function operation(doc, path, method, op, params) {
    const inputs = {};
    const rows = params.map((p) => {
      const id = `p-${op.operationId}-${p.in}-${p.name}`;
      const schema = p.schema || {};
      const input = schema.enum
        ? h('select', { id }, h('option', { value: '' }, ''), schema.enum.map((v) => h('option', { value: v }, String(v))))
        : h('input', { id, type: 'text', placeholder: schema.default !== undefined ? String(schema.default) : '' });
      if (p.in === 'path' || p.in === 'query') inputs[p.name] = { p, input };
      return h('tr', {}, h('th', { scope: 'row' }, h('label', { for: id }, p.name), p.required ? h('span', { class: 'bad-text' }, ' *') : null),
        h('td', {}, p.in), h('td', {}, h('code', {}, typeOf(schema))), h('td', {}, p.description || ''), h('td', {}, p.in === 'header' ? '' : input));
    });
    const bodySchema = op.requestBody && op.requestBody.content && op.requestBody.content['application/json'];
    const example = bodySchema && (bodySchema.example || (bodySchema.examples && Object.values(bodySchema.examples)[0].value) ||
      (resolve(doc, bodySchema.schema) || {}).example);
    const body = bodySchema ? h('textarea', { rows: 6, class: 'json', 'aria-label': 'Request body (JSON)' }, example ? JSON.stringify(example, null, 2) : '{\n  "input_smiles": ["CCO"]\n}') : null;
    const out = h('div', { class: 'try-out', 'aria-live': 'polite' });
    const send = h('button', { type: 'submit', class: 'primary' }, 'Send');
    async function tryIt(e) {
      e.preventDefault();
      let url = path;
      const query = new URLSearchParams();
      for (const [name, { p, input }] of Object.entries(inputs)) {
        const v = input.value.trim();
        if (p.in === 'path') {
          if (!v) { fill(out, h('p', { class: 'error' }, `${name} is required`)); return; }
          url = url.replace(`{${name}}`, encodeURIComponent(v));
        } else if (v) query.set(name, v);
      }
      const headers = { Accept: 'application/json' };
      if (AUTH === 'jwt' && token()) headers.Authorization = 'Bearer ' + token();
      if (body) headers['Content-Type'] = 'application/json';
      const target = url + (query.toString() ? '?' + query : '');
      send.disabled = true;
      const started = performance.now();
      try {
        const res = await fetch(target, { method: method.toUpperCase(), headers, body: body ? body.value : undefined });
        const type = res.headers.get('content-type') || '';
        let text = type.includes('event-stream') ? '(an event stream: open it with EventSource or curl -N)' : await res.text();
        if (type.includes('json')) { try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* as sent */ } }
        if (text.length > 100000) text = text.slice(0, 100000) + '\n… (cut at 100,000 characters)';
        fill(out, h('p', {}, h('span', { class: 'badge ' + (res.ok ? 's-completed' : 's-failed'), 'data-status': res.status }, `${res.status} ${res.statusText}`),
          ` ${method.toUpperCase()} ${target} · ${Math.round(performance.now() - started)} ms · ${type}`), h('pre', { class: 'json' }, text));
      } catch (err) {
        fill(out, errorBox(err));
      } finally { send.disabled = false; }
    }
    const responses = Object.entries(op.responses || {}).map(([code, r]) => {
      r = resolve(doc, r);
      const content = r.content ? Object.entries(r.content).map(([t, c]) => `${t}${c.schema ? ': ' + typeOf(c.schema) : ''}`).join(', ') : '';
      return h('li', {}, h('code', {}, code), ' ', r.description || '', content ? h('span', { class: 'muted' }, ` (${content})`) : null);
    });
    return h('details', { class: 'op card', id: op.operationId },
      h('summary', {}, h('span', { class: 'method m-' + method }, method.toUpperCase()), ' ', h('code', {}, path), ' ', h('span', { class: 'muted' }, op.summary || op.operationId || '')),
      op.description ? h('p', {}, op.description) : null,
      rows.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, ['Parameter', 'In', 'Type', 'Meaning', 'Value'].map((t) => h('th', { scope: 'col' }, t)))), h('tbody', {}, rows))) : null,
      h('h3', {}, 'Responses'), h('ul', {}, responses),
      h('form', { class: 'try', onsubmit: tryIt }, h('h3', {}, 'Try it'), body, send), out);
  }
}

// ---------- start ----------

showAuthState();
route();
