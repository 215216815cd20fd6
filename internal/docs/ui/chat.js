// The chat demo at /: rooms, history, live messages, presence, and resume
// after a dropped connection or a reload. It uses only the public API:
//   GET /chat/history, /chat/rooms, /chat/presence; WS /ws/chat/{room}?since=ID;
//   POST /auth/login, /auth/logout; GET /auth/session. Where no WebSocket gets
//   through (a proxy that refuses upgrades), it reads GET /sse/chat/{room}
//   with an EventSource instead and sends with POST /chat/message; ?transport=sse
//   forces that.
// The session travels in the HttpOnly cookie set by /auth/login: the page
// never sees or stores a token, and never puts one in a URL.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const HISTORY_PAGE = 50;
  const CATCH_UP_PAGES = 20; // pages read back to the last message seen before a reload

  const state = {
    room: "",
    ws: null, // the WebSocket, or the EventSource when transport is "sse"
    transport: new URLSearchParams(location.search).get("transport") === "sse" ? "sse" : "ws",
    joined: false,
    me: "", // sender name from the welcome frame
    user: "", // signed-in user name, "" when anonymous
    seen: new Set(), // message ids shown
    newest: "", // newest message id received: the resume point
    oldest: "", // oldest shown; "Load older" pages before it
    pending: new Map(), // ref -> {text, key, el}: sent, not yet acknowledged
    nextRef: 1,
    retry: 0,
    retryTimer: 0,
    generation: 0, // bumps on room switch, so stale sockets and fetches are ignored
  };

  // ---- small helpers ----

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text; // never innerHTML: messages are untrusted
    return e;
  }

  function compareIDs(a, b) { // stream ids "ms-seq"
    const [am, as] = a.split("-").map(Number);
    const [bm, bs] = b.split("-").map(Number);
    return am !== bm ? am - bm : as - bs;
  }

  function randomKey() { // works outside secure contexts too, unlike crypto.randomUUID
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  // api calls this server; a network failure is status 0, never a throw,
  // so timers and handlers need no catch.
  async function api(path, opts) {
    try {
      const res = await fetch(path, Object.assign({ credentials: "same-origin", headers: { Accept: "application/json" } }, opts));
      let body = null;
      const type = res.headers.get("Content-Type") || "";
      if (type.includes("json")) body = await res.json();
      return { ok: res.ok, status: res.status, body };
    } catch (e) {
      return { ok: false, status: 0, body: { detail: "the server is unreachable" } };
    }
  }

  function problemText(r) {
    return (r.body && (r.body.detail || r.body.title)) || "HTTP " + r.status;
  }

  function lastSeenKey(room) { return "redlane.chat.lastSeen." + room; }

  function setStatus(s, text) {
    const st = $("status");
    st.className = "status " + s;
    st.textContent = text || s;
    const live = s === "live";
    $("composer-input").disabled = !state.room;
    $("send").disabled = !state.room;
    document.body.dataset.chat = s; // for tests and styling
    document.body.dataset.transport = state.transport;
    if (live) $("composer-input").focus();
  }

  // ---- messages ----

  function scrolledToBottom() {
    const m = $("messages");
    return m.scrollHeight - m.scrollTop - m.clientHeight < 40;
  }

  function messageEl(m) {
    const li = el("li", "msg");
    li.dataset.id = m.id;
    if (m.sender === state.me) li.classList.add("mine");
    const who = el("span", "who", m.sender);
    const when = el("span", "when", new Date(m.timestamp).toLocaleTimeString());
    who.appendChild(when);
    li.appendChild(who);
    li.appendChild(el("span", "text", m.text));
    return li;
  }

  // addMessages shows messages in id order, each once, whatever order
  // history pages and live frames bring them in.
  function addMessages(msgs) {
    const list = $("messages");
    const stick = scrolledToBottom();
    for (const m of msgs) {
      if (m.room !== state.room || state.seen.has(m.id)) continue;
      state.seen.add(m.id);
      const li = messageEl(m);
      let after = null; // the first shown message newer than m
      for (const n of list.querySelectorAll("li.msg:not(.pending)")) {
        if (compareIDs(n.dataset.id, m.id) > 0) { after = n; break; }
      }
      list.insertBefore(li, after || firstPending());
      if (!state.newest || compareIDs(m.id, state.newest) > 0) {
        state.newest = m.id;
        sessionStorage.setItem(lastSeenKey(state.room), m.id);
      }
      if (!state.oldest || compareIDs(m.id, state.oldest) < 0) state.oldest = m.id;
    }
    if (stick) list.scrollTop = list.scrollHeight;
  }

  function firstPending() { return $("messages").querySelector("li.pending"); }

  function notice(text, kind) {
    const list = $("messages");
    const li = el("li", "notice" + (kind ? " " + kind : ""), text);
    list.insertBefore(li, firstPending());
    list.scrollTop = list.scrollHeight;
  }

  // ---- history ----

  async function loadHistory(gen) {
    const room = state.room;
    const r = await api("/chat/history?room=" + encodeURIComponent(room) + "&limit=" + HISTORY_PAGE);
    if (gen !== state.generation) return;
    if (!r.ok) { notice("History unavailable: " + problemText(r), "bad"); return; }
    addMessages(r.body.messages || []);
    let before = r.body.nextBefore;
    // After a reload: read back to the last message seen here, so nothing
    // sent while the page was away is skipped (up to CATCH_UP_PAGES pages).
    const last = sessionStorage.getItem(lastSeenKey(room));
    for (let i = 0; last && before && i < CATCH_UP_PAGES && !state.seen.has(last) && compareIDs(state.oldest, last) > 0; i++) {
      const p = await api("/chat/history?room=" + encodeURIComponent(room) + "&limit=" + HISTORY_PAGE + "&before=" + encodeURIComponent(before));
      if (gen !== state.generation || !p.ok) return;
      addMessages(p.body.messages || []);
      before = p.body.nextBefore;
    }
    $("older").hidden = !before;
    $("older").dataset.before = before || "";
  }

  async function loadOlder() {
    const gen = state.generation;
    const before = $("older").dataset.before;
    if (!before) return;
    const list = $("messages");
    const h = list.scrollHeight;
    const r = await api("/chat/history?room=" + encodeURIComponent(state.room) + "&limit=" + HISTORY_PAGE + "&before=" + encodeURIComponent(before));
    if (gen !== state.generation || !r.ok) return;
    addMessages(r.body.messages || []);
    list.scrollTop += list.scrollHeight - h; // keep the view where it was
    $("older").hidden = !r.body.nextBefore;
    $("older").dataset.before = r.body.nextBefore || "";
  }

  // ---- the socket ----

  function connect(gen) {
    if (gen !== state.generation) return;
    clearTimeout(state.retryTimer);
    state.joined = false;
    setStatus(state.retry ? "reconnecting" : "connecting");
    // Resume after the newest message shown: the server replays what came
    // after it from history, then switches to live, with no gap and no
    // duplicate. With nothing shown yet, 0-0 replays the (empty) start, so
    // nothing sent between the history read and the join is lost either.
    const since = state.newest || "0-0";
    if (state.transport === "sse") { connectEvents(gen, since); return; }
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    const ws = new WebSocket(proto + location.host + "/ws/chat/" + encodeURIComponent(state.room) + "?since=" + encodeURIComponent(since));
    state.ws = ws;
    let opened = false;
    ws.onopen = () => { opened = true; };
    ws.onmessage = (ev) => {
      if (ws !== state.ws) return;
      let f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      onFrame(f);
    };
    ws.onclose = (ev) => {
      if (ws !== state.ws) return; // replaced on purpose
      state.ws = null;
      state.joined = false;
      if (ev.code === 1008) { // the server refused the room: retrying will not help
        setStatus("failed", "refused");
        notice("The server refused this room: " + (ev.reason || "policy"), "bad");
        return;
      }
      if (!opened) explainHandshake(gen);
      scheduleReconnect(gen, ev.code);
    };
  }

  function scheduleReconnect(gen, code) {
    const delay = Math.min(10000, 500 * 2 ** state.retry) * (0.75 + Math.random() / 2);
    state.retry++;
    const why = { 1001: "server restarting", 1009: "frame too large", 1013: "room unavailable", 4008: "too slow" }[code] || "connection lost";
    setStatus("reconnecting", "reconnecting (" + why + ")");
    state.retryTimer = setTimeout(() => connect(gen), delay);
  }

  // A browser hides why a WebSocket handshake failed; the same URL over
  // plain HTTP answers a problem that says (origin, authentication, ...).
  async function explainHandshake(gen) {
    const r = await api("/ws/chat/" + encodeURIComponent(state.room));
    if (gen !== state.generation || r.status === 0) return; // 0: the server is down; keep retrying
    if (r.status === 426) {
      // The server is up and answers plain HTTP, yet no WebSocket got
      // through: something on the way refuses upgrades. Stream instead.
      if (typeof EventSource !== "function") return;
      state.transport = "sse";
      state.retry = 0;
      notice("WebSocket unavailable: streaming with Server-Sent Events instead.", "warn");
      connect(gen);
      return;
    }
    notice("Cannot connect: " + problemText(r), "bad");
  }

  // The SSE path: the same frames as events. EventSource reconnects by
  // itself and sends Last-Event-ID (the newest message id, or the joined
  // event's resume point), which the server resumes from as a socket does
  // from ?since=.
  function connectEvents(gen, since) {
    const es = new EventSource("/sse/chat/" + encodeURIComponent(state.room) + "?since=" + encodeURIComponent(since));
    state.ws = es;
    const onEvent = (ev) => {
      if (es !== state.ws || ev.data === undefined) return;
      let f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      onFrame(f);
      if (f.type === "left" && f.reason === "forbidden") { es.close(); state.ws = null; setStatus("failed", "refused"); }
    };
    for (const t of ["welcome", "joined", "message", "gap", "left", "error"]) es.addEventListener(t, onEvent);
    es.onerror = () => { // the stream broke (EventSource retries), or was refused (it gives up)
      if (es !== state.ws) return;
      state.joined = false;
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        state.ws = null;
        scheduleReconnect(gen, 0);
        return;
      }
      setStatus("reconnecting", "reconnecting (connection lost)");
    };
  }

  // Over SSE a message is a POST; its answer is the ack.
  async function postMessage(ref, p) {
    const r = await api("/chat/message", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ room: state.room, message: p.text, idempotencyKey: p.key }),
    });
    if (r.ok) onFrame({ type: "ack", ref: String(ref), id: r.body.id });
    else if (r.status !== 0) onFrame({ type: "error", ref: String(ref), code: r.status >= 500 ? "unavailable" : "refused", detail: problemText(r) });
  }

  function onFrame(f) {
    switch (f.type) {
      case "welcome":
        state.me = f.sender;
        showIdentity();
        break;
      case "message":
        addMessages([f]);
        break;
      case "joined":
        state.joined = true;
        state.retry = 0;
        setStatus("live");
        if (f.resumed && f.missed > 0) notice("Caught up on " + f.missed + " message" + (f.missed > 1 ? "s" : "") + ".");
        for (const [ref, p] of state.pending) sendFrame(ref, p); // resend unacknowledged, same idempotency keys
        refreshPresence();
        refreshRooms();
        break;
      case "gap":
        if (f.after !== "0-0" || state.seen.size > 0) {
          notice("Some messages are no longer in the room's history (" + f.reason + ") and were skipped.", "warn");
        }
        break;
      case "ack": {
        const p = state.pending.get(Number(f.ref));
        if (p) { p.el.remove(); state.pending.delete(Number(f.ref)); }
        break;
      }
      case "error":
        notice(f.detail || f.code, "bad");
        if (f.ref && state.pending.has(Number(f.ref)) && f.code !== "unavailable") {
          state.pending.get(Number(f.ref)).el.remove();
          state.pending.delete(Number(f.ref));
        }
        break;
    }
  }

  function sendFrame(ref, p) {
    if (!state.ws || !state.joined) return false;
    if (state.transport === "sse") { postMessage(ref, p); return true; }
    state.ws.send(JSON.stringify({ type: "message", room: state.room, text: p.text, ref: String(ref), idempotencyKey: p.key }));
    return true;
  }

  function send(text) {
    const ref = state.nextRef++;
    const li = messageEl({ id: "", sender: state.me || "you", text, timestamp: new Date().toISOString() });
    li.classList.add("pending", "mine");
    $("messages").appendChild(li);
    $("messages").scrollTop = $("messages").scrollHeight;
    const p = { text, key: randomKey(), el: li };
    state.pending.set(ref, p);
    sendFrame(ref, p); // or after the next join, when the socket is down
  }

  // ---- rooms, presence, identity ----

  async function refreshPresence() {
    const room = state.room;
    if (!room) return;
    const r = await api("/chat/presence?room=" + encodeURIComponent(room));
    if (room !== state.room || !r.ok) return;
    const ul = $("presence");
    ul.replaceChildren();
    const names = new Map(); // sender -> connections
    for (const m of r.body.members || []) names.set(m.sender, (names.get(m.sender) || 0) + 1);
    for (const [name, n] of [...names].sort()) {
      const li = el("li", "", name);
      if (name === state.me) li.appendChild(el("span", "you", "you"));
      else if (n > 1) li.appendChild(el("span", "n", n + " tabs"));
      ul.appendChild(li);
    }
    $("presence-count").textContent = names.size ? "(" + names.size + ")" : "";
  }

  async function refreshRooms() {
    const r = await api("/chat/rooms?limit=50");
    if (!r.ok) return;
    const ul = $("rooms");
    ul.replaceChildren();
    const rooms = (r.body.rooms || []).slice().sort((a, b) => b.members - a.members || a.room.localeCompare(b.room));
    for (const x of rooms) {
      const li = el("li", "clickable" + (x.room === state.room ? " current" : ""), x.room);
      li.appendChild(el("span", "n", String(x.members)));
      li.addEventListener("click", () => openRoom(x.room));
      ul.appendChild(li);
    }
    if (!rooms.length) ul.appendChild(el("li", "n", "none yet"));
  }

  function showIdentity() {
    $("me").textContent = state.user ? "signed in as " + state.user : state.me ? "you are " + state.me : "";
    $("login").hidden = !!state.user;
    $("logout").hidden = !state.user;
  }

  async function loadIdentity() {
    const r = await api("/auth/session");
    state.user = r.ok && r.body && r.body.user ? r.body.user.username : "";
    showIdentity();
  }

  // ---- rooms ----

  function openRoom(room) {
    if (!room) return;
    state.generation++;
    const gen = state.generation;
    if (state.ws) { const ws = state.ws; state.ws = null; ws.close(1000, "switching rooms"); }
    clearTimeout(state.retryTimer);
    Object.assign(state, { room, joined: false, seen: new Set(), newest: "", oldest: "", retry: 0 });
    for (const p of state.pending.values()) p.el.remove();
    state.pending.clear();
    $("messages").replaceChildren();
    $("presence").replaceChildren();
    $("room-title").textContent = "#" + room;
    $("room-input").value = room;
    document.title = "#" + room + " · Redlane chat";
    if (location.hash !== "#" + encodeURIComponent(room)) history.replaceState(null, "", "#" + encodeURIComponent(room));
    setStatus("connecting");
    loadHistory(gen).finally(() => connect(gen)); // the socket resumes after what history showed
  }

  function reconnectNow() { // after logging in or out: the socket's sender changes
    if (!state.room) return;
    if (state.ws) { const ws = state.ws; state.ws = null; ws.close(1000, "identity changed"); }
    state.retry = 0;
    connect(state.generation);
  }

  // ---- wiring ----

  $("room-form").addEventListener("submit", (e) => {
    e.preventDefault();
    openRoom($("room-input").value.trim());
  });
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = $("composer-input");
    const text = input.value;
    if (!text.trim() || !state.room) return;
    input.value = "";
    send(text);
  });
  $("older").addEventListener("click", loadOlder);
  $("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    const r = await api("/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ username: $("username").value, password: $("password").value }),
    });
    $("password").value = "";
    if (!r.ok) { notice("Login failed: " + problemText(r), "bad"); return; }
    // The token in r.body is deliberately ignored: the HttpOnly cookie the
    // server set authenticates this page's requests and its socket.
    state.user = r.body.user.username;
    showIdentity();
    reconnectNow();
  });
  $("logout").addEventListener("click", async () => {
    await api("/auth/logout", { method: "POST" });
    state.user = "";
    showIdentity();
    reconnectNow();
  });
  window.addEventListener("hashchange", () => {
    const room = decodeURIComponent(location.hash.slice(1));
    if (room && room !== state.room) openRoom(room);
  });
  // Leaving the page closes the socket, so the room stops listing us at
  // once, even if the browser keeps the page in its back/forward cache; coming
  // back from that cache resumes after the last message shown.
  window.addEventListener("pagehide", () => {
    clearTimeout(state.retryTimer);
    if (state.ws) { const ws = state.ws; state.ws = null; ws.close(1000, "page hidden"); }
  });
  window.addEventListener("pageshow", (e) => { if (e.persisted && state.room) reconnectNow(); });
  window.addEventListener("online", () => { if (!state.ws && state.room) reconnectNow(); });
  setInterval(() => { if (state.joined && !document.hidden) refreshPresence(); }, 5000);
  setInterval(() => { if (!document.hidden) refreshRooms(); }, 10000);

  loadIdentity();
  refreshRooms();
  openRoom(decodeURIComponent(location.hash.slice(1)) || $("room-input").value);
})();
