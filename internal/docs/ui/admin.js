// The operator console (/admin). Every figure and every action is a call of
// the documented API (see /docs); the page keeps nothing but the operator's
// token, in sessionStorage. Values from the server are set as text, never
// as HTML.
"use strict";

const $ = (sel) => document.querySelector(sel);
const TOKEN_KEY = "redlane-admin-token";
const PAGE = 20;
let current = "queues";
let selectedQueue = null;
let queueOffset = 0, deadOffset = 0, doneOffset = 0;
let stream = null;

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (token()) h["Authorization"] = "Bearer " + token();
  return h;
}

function showError(msg) {
  const e = $("#error");
  e.textContent = msg || "";
  e.hidden = !msg;
}

// api calls the server and answers the decoded JSON (null for 204); a
// problem answer becomes an Error with its detail.
async function api(method, path, body) {
  const opts = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }), credentials: "same-origin" };
  if (body !== undefined) opts.body = JSON.stringify(body);
  const r = await fetch(path, opts);
  if (r.status === 204) return null;
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const why = r.status === 401 || r.status === 403 ? "Not signed in as an admin: enter the admin token. " : "";
    throw new Error(why + (data.detail || r.status + " " + r.statusText));
  }
  return data;
}

async function run(fn) {
  try {
    showError("");
    await fn();
  } catch (e) {
    showError(e.message);
  }
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function button(label, cls, onclick) {
  const b = el("button", label, cls);
  b.type = "button";
  b.addEventListener("click", () => run(onclick));
  return b;
}

function when(t) { return t ? new Date(t).toLocaleString() : "–"; }
function json(v) { return v === undefined ? "" : JSON.stringify(v); }

function pager(box, offset, total, go) {
  box.replaceChildren();
  if (total <= PAGE) return;
  box.append(el("span", `${offset + 1}–${Math.min(offset + PAGE, total)} of ${total}`));
  if (offset > 0) box.append(button("previous", "small", () => go(Math.max(0, offset - PAGE))));
  if (offset + PAGE < total) box.append(button("next", "small", () => go(offset + PAGE)));
}

// Queues: a live page of queues from the event stream, and the selected
// queue's dead letters and completed tasks.
function renderQueues(page) {
  if (page.error) {
    $("#live").textContent = "Redis unavailable";
    $("#live").className = "status stale";
    return;
  }
  $("#live").textContent = "live";
  $("#live").className = "status live";
  $("#queues-total").textContent = `(${page.total})`;
  const body = $("#queue-table tbody");
  body.replaceChildren();
  for (const q of page.queues || []) {
    const tr = el("tr");
    tr.dataset.queue = q.queue;
    if (q.queue === selectedQueue) tr.className = "selected";
    const name = button(q.queue, "link", () => selectQueue(q.queue));
    name.style.color = "inherit";
    const nameCell = el("td");
    nameCell.append(name);
    tr.append(nameCell);
    for (const n of [q.ready, q.inFlight, q.delayed, q.dead, q.completed || 0, q.counters.enqueued, q.counters.acked]) tr.append(el("td", n, "num"));
    const state = el("td");
    state.append(el("span", q.paused ? "paused" : "running", q.paused ? "pill paused" : "pill"));
    tr.append(state);
    const act = el("td");
    act.append(q.paused
      ? button("resume", "small", async () => { await api("POST", `/queues/${encodeURIComponent(q.queue)}/resume`); })
      : button("pause", "small", async () => { await api("POST", `/queues/${encodeURIComponent(q.queue)}/pause`); }));
    tr.append(act);
    body.append(tr);
  }
  pager($("#queue-pager"), queueOffset, page.total, (o) => { queueOffset = o; watchQueues(); });
}

// watchQueues reads the text/event-stream of /admin/queues/events with
// fetch (EventSource cannot send the Authorization header) and reconnects
// when it ends.
async function watchQueues() {
  if (stream) stream.abort();
  const ctl = new AbortController();
  stream = ctl;
  while (!ctl.signal.aborted) {
    try {
      const r = await fetch(`/admin/queues/events?offset=${queueOffset}&limit=${PAGE}`, { headers: headers(), signal: ctl.signal, credentials: "same-origin" });
      if (!r.ok) {
        const data = await r.json().catch(() => ({}));
        throw new Error((r.status === 401 || r.status === 403 ? "Not signed in as an admin: enter the admin token. " : "") + (data.detail || r.status));
      }
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = frame.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          if (data) renderQueues(JSON.parse(data));
        }
      }
    } catch (e) {
      if (ctl.signal.aborted) return;
      $("#live").textContent = "offline";
      $("#live").className = "status";
      showError(e.message);
      if (/admin token/.test(e.message)) return;
    }
    await new Promise((res) => setTimeout(res, 1000));
  }
}

async function selectQueue(name) {
  selectedQueue = name;
  deadOffset = doneOffset = 0;
  document.querySelectorAll("#queue-table tbody tr").forEach((tr) => tr.classList.toggle("selected", tr.dataset.queue === name));
  document.querySelectorAll(".qname").forEach((e) => { e.textContent = name; });
  $("#queue-detail").hidden = false;
  await Promise.all([loadDead(), loadDone()]);
}

async function loadDead() {
  const q = encodeURIComponent(selectedQueue);
  const page = await api("GET", `/queues/${q}/dead?offset=${deadOffset}&limit=${PAGE}`);
  $("#dead-total").textContent = `(${page.total})`;
  const body = $("#dead-table tbody");
  body.replaceChildren();
  for (const t of page.tasks || []) {
    const tr = el("tr");
    tr.dataset.task = t.id;
    tr.append(el("td", t.id), el("td", `${t.attempts}/${t.maxAttempts}`, "num"), el("td", t.lastError || ""), el("td", when(t.deadAt)));
    const p = el("td");
    p.append(el("code", json(t.payload)));
    tr.append(p);
    const act = el("td");
    act.append(
      button("retry", "small", async () => { await api("POST", `/queues/${q}/dead/${t.id}/requeue`); await loadDead(); }),
      " ",
      button("delete", "small danger", async () => { await api("DELETE", `/queues/${q}/dead/${t.id}`); await loadDead(); }));
    tr.append(act);
    body.append(tr);
  }
  pager($("#dead-pager"), deadOffset, page.total, (o) => { deadOffset = o; return loadDead(); });
}

async function loadDone() {
  const q = encodeURIComponent(selectedQueue);
  const page = await api("GET", `/queues/${q}/completed?offset=${doneOffset}&limit=${PAGE}`);
  $("#done-total").textContent = `(${page.total}; kept for spec.queue.completedRetention)`;
  const body = $("#done-table tbody");
  body.replaceChildren();
  for (const t of page.tasks || []) {
    const tr = el("tr");
    const r = el("td");
    r.append(el("code", json(t.result)));
    tr.append(el("td", t.id), el("td", when(t.completedAt)), el("td", t.schedule || ""), r);
    body.append(tr);
  }
  pager($("#done-pager"), doneOffset, page.total, (o) => { doneOffset = o; return loadDone(); });
}

async function loadSchedules() {
  const data = await api("GET", "/schedules");
  const body = $("#schedule-table tbody");
  body.replaceChildren();
  for (const s of data.schedules || []) {
    const tr = el("tr");
    tr.dataset.schedule = s.name;
    const state = el("td");
    state.append(el("span", s.paused ? "paused" : "running", s.paused ? "pill paused" : "pill"));
    const n = encodeURIComponent(s.name);
    const act = el("td");
    act.append(
      s.paused ? button("resume", "small", async () => { await api("POST", `/schedules/${n}/resume`); await loadSchedules(); })
        : button("pause", "small", async () => { await api("POST", `/schedules/${n}/pause`); await loadSchedules(); }),
      " ",
      button("run now", "small", async () => { await api("POST", `/schedules/${n}/trigger`); await loadSchedules(); }));
    tr.append(el("td", s.name), el("td", s.queue), el("td", s.schedule), el("td", s.timeZone), el("td", when(s.lastRunAt)),
      el("td", when(s.nextRunAt)), el("td", s.enqueued, "num"), el("td", s.skipped, "num"), state, act);
    body.append(tr);
  }
  if (!(data.schedules || []).length) {
    const tr = el("tr");
    const td = el("td", "No schedules: add them under spec.queue.schedules.");
    td.colSpan = 10;
    tr.append(td);
    body.append(tr);
  }
}

async function loadSessions(uid) {
  const data = await api("GET", `/admin/users/${uid}/sessions`);
  const body = $("#session-table tbody");
  body.replaceChildren();
  for (const s of data.sessions || []) {
    const tr = el("tr");
    tr.append(el("td", s.id), el("td", s.device), el("td", s.browser), el("td", s.ip), el("td", when(s.created_at)), el("td", when(s.last_seen_at)),
      el("td", when(s.idle_expires_at < s.absolute_expires_at ? s.idle_expires_at : s.absolute_expires_at)));
    body.append(tr);
  }
  $("#session-table").hidden = false;
  const revoke = $("#revoke-all");
  revoke.hidden = !data.count;
  revoke.textContent = `End every session of user ${uid} (${data.count})`;
  revoke.onclick = () => run(async () => { await api("DELETE", `/admin/users/${uid}/sessions`); await loadSessions(uid); });
}

async function loadCache() {
  const [s, warm] = await Promise.all([api("GET", "/cache/stats"), api("GET", "/cache/warm")]);
  const all = (s.all_pods || s.pod || {}).namespaces || {};
  const keys = (s.keys || {}).namespaces || {};
  $("#cache-table tbody").replaceChildren(...Object.keys(all).sort().map((ns) => {
    const n = all[ns];
    const tr = el("tr");
    tr.dataset.namespace = ns;
    tr.append(el("td", ns), el("td", (100 * (n.hit_rate || 0)).toFixed(1) + "%", "num"), el("td", n.hits, "num"), el("td", n.near_hits, "num"),
      el("td", n.stale, "num"), el("td", n.misses, "num"), el("td", n.errors, "num"), el("td", keys[ns] === undefined ? "–" : keys[ns], "num"));
    return tr;
  }));
  const dl = $("#cache-stats");
  dl.replaceChildren();
  const near = s.near_cache || {};
  const redis = s.redis || {};
  for (const [k, v] of [["near cache", near.enabled ? `${near.entries} of ${near.capacity} entries, ttl ${near.ttl}` : "off"],
    ["Redis breaker", s.redis_breaker], ["Redis memory", redis.maxmemory_bytes ? `${bytes(redis.used_memory_bytes)} of ${bytes(redis.maxmemory_bytes)}` : bytes(redis.used_memory_bytes)],
    ["evicted keys", redis.evicted_keys], ["pending invalidations", s.pending_invalidations]]) {
    dl.append(el("dt", k), el("dd", v));
  }
  showWarm(warm);
}

function showWarm(w) {
  const done = w.total ? ` ${w.loaded + w.missing + w.errors} of ${w.total} (loaded ${w.loaded}, missing ${w.missing}, errors ${w.errors})` : "";
  $("#warm-status").textContent = `${w.state}${done}`;
  $("#warm-status").dataset.state = w.state;
}

async function warm(top) {
  showWarm(await api("POST", "/cache/warm", { top }));
  for (let i = 0; i < 600; i++) {
    await new Promise((res) => setTimeout(res, 500));
    const w = await api("GET", "/cache/warm");
    showWarm(w);
    if (w.state !== "running") break;
  }
  await loadCache();
}

async function loadRooms() {
  const data = await api("GET", "/chat/rooms?limit=100");
  const body = $("#room-table tbody");
  body.replaceChildren();
  for (const r of data.rooms || []) {
    const tr = el("tr");
    tr.dataset.room = r.room;
    const name = el("td");
    const b = button(r.room, "link", () => showRoom(r.room));
    b.style.color = "inherit";
    name.append(b);
    tr.append(name, el("td", r.members, "num"));
    body.append(tr);
  }
  if (!(data.rooms || []).length) {
    const tr = el("tr");
    const td = el("td", "No room has members now.");
    td.colSpan = 2;
    tr.append(td);
    body.append(tr);
  }
}

let roomTimer = null;

// showRoom shows a room's presence and last messages, refreshed every 2 s
// while the Rooms tab is open.
async function showRoom(room) {
  if (roomTimer) clearInterval(roomTimer);
  roomTimer = setInterval(() => { if (current === "rooms") run(() => refreshRoom(room)); }, 2000);
  await refreshRoom(room);
}

async function refreshRoom(room) {
  const q = encodeURIComponent(room);
  const [presence, history] = await Promise.all([api("GET", `/chat/presence?room=${q}`), api("GET", `/chat/history?room=${q}&limit=20`)]);
  document.querySelectorAll(".rname").forEach((e) => { e.textContent = room; });
  $("#presence-table tbody").replaceChildren(...(presence.members || []).map((m) => {
    const tr = el("tr");
    tr.append(el("td", m.sender), el("td", m.instance), el("td", m.connection));
    return tr;
  }));
  $("#history-table tbody").replaceChildren(...(history.messages || []).map((m) => {
    const tr = el("tr");
    tr.append(el("td", when(m.timestamp)), el("td", m.sender), el("td", m.text));
    return tr;
  }));
  $("#room-detail").hidden = false;
}

async function loadRateLimits() {
  const data = await api("GET", "/admin/ratelimits");
  $("#policy-table tbody").replaceChildren(...(data.policies || []).map((p) => {
    const tr = el("tr");
    tr.dataset.policy = p.name;
    const m = p.match || {};
    const match = [m.pathPrefix && `prefix ${m.pathPrefix}`, m.route && `route ${m.route}`, (m.methods || []).join(" ")].filter(Boolean).join(", ") || "every request";
    const d = p.decisions || {};
    tr.append(el("td", p.name), el("td", match), el("td", p.key), el("td", `${p.limit} per ${p.period}${p.burst ? ` (+${p.burst} burst)` : ""}`),
      el("td", p.failOpen ? "allow" : "refuse (503)"), el("td", d.allowed, "num"), el("td", d.limited, "num"), el("td", (d.failed_open || 0) + (d.failed_closed || 0), "num"));
    return tr;
  }));
  $("#limited-table tbody").replaceChildren(...(data.recentLimited || []).map((l) => {
    const tr = el("tr");
    tr.append(el("td", when(l.at)), el("td", l.policy), el("td", l.subject), el("td", l.route));
    return tr;
  }));
}

function bytes(n) {
  if (!n) return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + " " + u[i];
}

async function loadRedis() {
  const data = await api("GET", "/admin/redis");
  $("#redis-table tbody").replaceChildren(...(data.nodes || []).map((n) => {
    const tr = el("tr");
    tr.dataset.node = n.node;
    if (n.error) {
      const td = el("td", n.error);
      td.colSpan = 9;
      tr.append(el("td", n.node), td);
      return tr;
    }
    const mem = n.maxmemoryBytes ? `${bytes(n.usedMemoryBytes)} (${Math.round(100 * n.usedMemoryBytes / n.maxmemoryBytes)}%)` : bytes(n.usedMemoryBytes);
    tr.append(el("td", n.node), el("td", n.role || ""), el("td", n.version || ""), el("td", mem), el("td", n.maxmemoryBytes ? bytes(n.maxmemoryBytes) : "no limit"),
      el("td", n.maxmemoryPolicy || ""), el("td", n.evictedKeys, "num"), el("td", n.connectedClients, "num"), el("td", n.keys, "num"), el("td", (n.slots || []).join(", ")));
    return tr;
  }));
}

async function loadConfig() {
  const c = await api("GET", "/admin/config");
  $("#config-doc").textContent = JSON.stringify(c, null, 2);
}

const TABS = ["queues", "schedules", "rooms", "sessions", "cache", "ratelimits", "redis", "config"];

function show(tab) {
  if (!TABS.includes(tab)) tab = "queues";
  current = tab;
  document.querySelectorAll(".tab").forEach((b) => b.classList.toggle("current", b.dataset.tab === tab));
  document.querySelectorAll("main > section").forEach((s) => { s.hidden = s.id !== tab; });
  $("#live").hidden = tab !== "queues";
  if (tab === "queues") watchQueues();
  else if (stream) { stream.abort(); stream = null; $("#live").textContent = "offline"; $("#live").className = "status"; }
  if (tab === "schedules") run(loadSchedules);
  if (tab === "cache") run(loadCache);
  if (tab === "config") run(loadConfig);
  if (tab === "rooms") run(loadRooms);
  if (tab === "redis") run(loadRedis);
  if (tab === "ratelimits") run(loadRateLimits);
  if (tab !== "rooms" && roomTimer) { clearInterval(roomTimer); roomTimer = null; }
  location.hash = tab;
}

function signedIn() {
  $("#login").hidden = !!token();
  $("#logout").hidden = !token();
}

document.querySelectorAll(".tab").forEach((b) => b.addEventListener("click", () => show(b.dataset.tab)));
$("#login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  run(async () => {
    sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
    $("#token").value = "";
    try {
      await api("GET", "/admin/config");
    } catch (e) {
      sessionStorage.removeItem(TOKEN_KEY);
      signedIn();
      throw new Error("That token is not the admin token.");
    }
    signedIn();
    show(current);
  });
});
$("#logout").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); signedIn(); show(current); });
$("#rooms-refresh").addEventListener("click", () => run(loadRooms));
$("#cache-refresh").addEventListener("click", () => run(loadCache));
$("#warm-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const top = parseInt($("#warm-top").value, 10);
  if (!(top > 0)) { showError("Enter how many users to warm (a positive integer)."); return; }
  run(() => warm(top));
});
$("#redis-refresh").addEventListener("click", () => run(loadRedis));
$("#rl-refresh").addEventListener("click", () => run(loadRateLimits));
$("#user-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const uid = parseInt($("#user-id").value, 10);
  if (!(uid > 0)) { showError("Enter a user id (a positive integer)."); return; }
  run(() => loadSessions(uid));
});
$("#clear-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  run(async () => {
    const r = await api("POST", "/cache/clear", { pattern: $("#clear-pattern").value.trim() });
    showError("");
    $("#clear-pattern").value = "";
    $("#clear-pattern").placeholder = `cleared ${r.cleared !== undefined ? r.cleared : ""}`;
    await loadCache();
  });
});
signedIn();
show(location.hash.slice(1));
