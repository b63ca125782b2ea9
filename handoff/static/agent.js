/*
 * Agent console of Tienda Aurora: /ws/agent (docs/protocol.md).
 *
 * - The token is kept in sessionStorage (this tab only), never in the URL.
 * - Every text from the network is inserted with textContent; links are made
 *   only from http(s) URLs (attachments also from same-origin /attachments/ URLs).
 * - Customer attachments: photos as thumbnails (click opens the full size in a
 *   new tab), documents as download links. Their URLs are signed and expire; a
 *   later `conversation` frame (reconnection) re-signs them and they are swapped.
 * - Several conversations at once: each has its own transcript element (only
 *   the selected one is shown) so lines are appended, never re-rendered.
 * - Reconnects with backoff; after `authenticated` the bridge sends the queue
 *   and one `conversation` frame per conversation the agent still owns, which
 *   is merged by message id (nothing shown twice). Replies not yet acknowledged
 *   are re-sent with the same client_id (the bridge stores them once).
 */
(function () {
  "use strict";

  var TOKEN_KEY = "tiendaAurora.agentToken";
  var WS_URL = (location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host + "/ws/agent";
  var TYPING_SHOW_MS = 5000;
  var TYPING_SEND_EVERY_MS = 3000;
  var BASE_TITLE = "Consola de agentes · Tienda Aurora";

  // Every code on the case card arrives with its Spanish text from the bridge
  // (handoff/vocabulary.py: *_text, label, details_list, entities_list): the
  // console prints those, and a generic Spanish word when one is missing.
  // the frustration detector's signals (bot/frustration.py), in words
  var SIGNALS = { shouting: "mayúsculas", exclamations: "«!!»", question_marks: "«??»",
                  stretched: "letras repetidas", repeated_message: "repite el mensaje" };
  function frustrationLine(f) {
    if (!f || typeof f.max !== "number" || f.max <= 0) return null;
    var level = f.max >= 0.65 ? "alta" : f.max >= 0.3 ? "media" : "baja";
    var fmt = function (x) { return Number(x || 0).toFixed(2).replace(".", ","); };
    var signals = (Array.isArray(f.signals) ? f.signals : []).map(function (s) {
      s = String(s);
      if (s.indexOf("lexicon:") === 0) return "«" + s.slice(8) + "»";
      if (s.indexOf("emoji:") === 0) return s.slice(6);
      return SIGNALS[s] || "otra señal";
    });
    return "Frustración " + level + " (último mensaje " + fmt(f.score) + ", máxima " + fmt(f.max) + ")" +
      (signals.length ? ": " + signals.join(", ") : "");
  }
  function returnLine(r) {
    var what = (r.kind_text || "Trámite") + (r.kind === "exchange" && r.wanted_variant ? " por " + r.wanted_variant : "");
    return (r.return_number || "") + (r.items ? " " + r.items : "") + " · " + what + ": " + (r.status_text || "otro estado");
  }
  function refundLine(r) {
    return money(r.amount) + " · " + (r.status_text || "otro estado") +
      (r.return_number ? " (devolución " + r.return_number + ")" : "");
  }
  var CHANNELS = { web: "Web", telegram: "Telegram" };
  var SENDERS = { customer: "Cliente", bot: "Asistente", system: "Sistema" };
  var SENDER_NAMES = { customer: "Cliente", bot: "Asistente", system: "Sistema", agent: "Agente", note: "Nota interna" };
  var LABEL_RE = /^[a-z0-9ñáéíóúü]+(?:-[a-z0-9ñáéíóúü]+)*$/;
  // the bridge's text for files sent without a caption: the files say it already
  var PLACEHOLDERS = { "[Foto]": true, "[Documento]": true };

  // -- helpers --
  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === null || value === undefined || value === false) return;
        if (name === "text") node.textContent = String(value);
        else if (name === "className") node.className = value;
        else if (name.slice(0, 2) === "on") node.addEventListener(name.slice(2), value);
        else node.setAttribute(name, value === true ? "" : String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
    });
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  // -- long e-mails and URLs break at their own joints (a <wbr> after "@", "/",
  // "=", "&"…, before "."), never mid-word; text nodes only, never innerHTML --
  function withJoints(parent, text, after, before) {
    var piece = "";
    function cut() {
      if (piece) { parent.appendChild(document.createTextNode(piece)); parent.appendChild(document.createElement("wbr")); }
      piece = "";
    }
    for (var i = 0; i < text.length; i++) {
      var ch = text.charAt(i);
      if (before.indexOf(ch) >= 0) cut();
      piece += ch;
      if (after.indexOf(ch) >= 0 && text.charAt(i + 1) !== "/") cut();   // "https://" stays whole
    }
    if (piece) parent.appendChild(document.createTextNode(piece));
    return parent;
  }
  var EMAIL_ONLY = /^[^\s@]+@[^\s@]+$/;
  function emailNode(text) { return withJoints(el("span", { className: "email" }), String(text), "@-_", "."); }
  // a name that may be an e-mail (a shopper known only by the address they left)
  function nameNode(text) {
    text = String(text || "");
    return EMAIL_ONLY.test(text) ? emailNode(text) : el("span", { text: text });
  }
  // http(s) URLs in a line: links (``links``) or plain text, broken at their joints
  var URL_RE = /\bhttps?:\/\/[^\s<>"']+/gi;
  var URL_TRAILING = /[.,;:!?)\]}»"']+$/;
  function richText(node, text, links) {
    text = String(text || "");
    var last = 0;
    text.replace(URL_RE, function (match, offset) {
      var raw = match.replace(URL_TRAILING, "");
      var href = raw && links ? safeUrl(raw) : null;
      if (!raw) return match;
      if (offset > last) node.appendChild(document.createTextNode(text.slice(last, offset)));
      node.appendChild(withJoints(href ? el("a", { href: href, target: "_blank", rel: "noopener noreferrer" })
        : el("span", { className: "url" }), raw, "/=&?-_", "."));
      last = offset + raw.length;
      return match;
    });
    if (last < text.length) node.appendChild(document.createTextNode(text.slice(last)));
    return node;
  }
  function newId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return "a" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
  }
  function timeOf(iso) {
    var date = iso ? new Date(iso) : new Date();
    if (isNaN(date.getTime())) return "";
    return date.toLocaleTimeString("es-ES", { hour: "2-digit", minute: "2-digit" });
  }
  function dateOf(iso) {
    var date = new Date(iso);
    if (!iso || isNaN(date.getTime())) return "—";
    return date.toLocaleDateString("es-ES", { day: "numeric", month: "short", year: "numeric" });
  }
  function duration(sinceIso) {
    var since = Date.parse(sinceIso || "");
    if (isNaN(since)) return "—";
    var s = Math.max(0, Math.floor((Date.now() - since) / 1000));
    if (s >= 86400) return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m)) + ":" + String(sec).padStart(2, "0");
    return h ? h + ":" + mm : mm;
  }
  // -- the first-response SLA (the shopper's promise; docs/protocol.md) --
  // ``respond_in_s`` is the seconds left when the bridge sent the frame: the
  // countdown runs from its arrival, so a console whose clock is off still
  // counts right. Past zero it says how late it is, and the row is marked.
  function slaDue(frame) {
    return frame && typeof frame.respond_in_s === "number" ? Date.now() + frame.respond_in_s * 1000 : null;
  }
  function slaText(dueAt) {
    var left = Math.round((dueAt - Date.now()) / 1000);
    if (left > 0) return "Responder en " + clockOf(left);
    return "SLA vencido hace " + clockOf(-left);
  }
  function clockOf(seconds) {
    var s = Math.max(0, seconds);
    if (s >= 86400) return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (h) return h + " h " + String(m).padStart(2, "0") + " min";
    return m + ":" + String(sec).padStart(2, "0");
  }
  function slaTitle(frame) {
    var title = "Primera respuesta prometida antes de las " + timeOf(frame.respond_by);
    if (frame.promised_by && frame.promised_by !== frame.respond_by) {
      title += "; vencido: al cliente se le pidió disculpas y se le prometió antes de las " + timeOf(frame.promised_by);
    }
    return title;
  }
  function slaBadge(frame, dueAt) {
    if (dueAt === null) return null;
    var late = dueAt <= Date.now() || !!frame.breached;
    return el("span", { className: "sla" + (late ? " breached" : ""), "data-due": String(dueAt),
      role: "timer", title: slaTitle(frame), text: slaText(dueAt) });
  }
  function reasonLabel(reason, reasonText) {
    return reasonText || (reason ? "Otro motivo" : "Sin motivo");
  }
  function safeUrl(url) {
    try {
      var parsed = new URL(String(url));
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (e) { return null; }
  }
  // attachment URLs: the bridge's relative "/attachments/..." (same origin) or http(s)
  function attachmentUrl(url) {
    if (typeof url !== "string" || !url) return null;
    if (url.indexOf("/attachments/") === 0) {
      try {
        var parsed = new URL(url, location.origin);
        return parsed.origin === location.origin && parsed.pathname.indexOf("/attachments/") === 0 ? parsed.href : null;
      } catch (e) { return null; }
    }
    return safeUrl(url);
  }
  function channelLabel(channel) { return CHANNELS[channel] || "Otro canal"; }
  function channelBadge(channel) {
    var known = CHANNELS[channel] ? channel : "other";
    return el("span", { className: "pill ch ch-" + known, title: "Canal", text: channelLabel(channel) });
  }
  function nameLabel(channel) {
    return channel === "telegram" ? "Nombre en Telegram (no verificado)" : "Nombre en " + channelLabel(channel) + " (no verificado)";
  }
  function money(value) {
    var n = Number(value);
    return isNaN(n) ? String(value) : n.toLocaleString("es-ES", { style: "currency", currency: "EUR" });
  }

  // -- state --
  var state = {
    token: null, ws: null, me: null, attempts: 0, retryTimer: null, signingOut: false,
    queue: [], knownQueue: {}, unseen: 0, convs: {}, order: [], activeId: null,
    pendingClaim: {}, canned: [], audio: null, sound: true, lastTypingSent: 0,
    labelSuggestions: [], transcriptOpener: null, transcriptRow: null
  };
  try { state.token = window.sessionStorage.getItem(TOKEN_KEY); } catch (e) { state.token = null; }

  // -- alerts --
  function showAlert(text, code) {
    var box = el("div", { className: "alert" }, [
      el("span", { text: text }),
      code ? el("code", { text: code }) : null,
      el("button", { type: "button", "aria-label": "Descartar aviso", text: "×",
        onclick: function () { box.parentNode && box.parentNode.removeChild(box); } })
    ]);
    $("alerts").appendChild(box);
    setTimeout(function () { box.parentNode && box.parentNode.removeChild(box); }, 15000);
  }

  // -- sound and title --
  function beep() {
    if (!state.sound || !state.audio) return;
    try {
      var ctx = state.audio;
      if (ctx.state === "suspended") ctx.resume();
      var osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.setValueAtTime(880, ctx.currentTime);
      osc.frequency.setValueAtTime(1175, ctx.currentTime + 0.12);
      gain.gain.setValueAtTime(0.0001, ctx.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.2, ctx.currentTime + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.3);
      osc.connect(gain); gain.connect(ctx.destination);
      osc.start(); osc.stop(ctx.currentTime + 0.32);
    } catch (e) { /* no audio: the title still tells */ }
  }
  function renderTitle() {
    document.title = state.unseen > 0
      ? "(" + state.unseen + ") Nueva conversación · " + BASE_TITLE : BASE_TITLE;
  }
  function seenAll() { if (state.unseen) { state.unseen = 0; renderTitle(); } }
  window.addEventListener("focus", seenAll);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) setTimeout(seenAll, 4000); });

  // -- connection --
  function setConn(text, ok) {
    var node = $("conn");
    node.textContent = text;
    node.className = "conn " + (ok ? "ok" : "down");
  }

  function send(frame) {
    if (!state.ws || state.ws.readyState !== 1 || !state.me) return false;
    try { state.ws.send(JSON.stringify(frame)); return true; } catch (e) { return false; }
  }

  function connect() {
    if (!state.token) return;
    var ws;
    try { ws = new WebSocket(WS_URL); } catch (e) { scheduleReconnect(); return; }
    state.ws = ws;
    state.me = null;
    setConn(state.attempts ? "Reconectando…" : "Conectando…", false);
    ws.onopen = function () { ws.send(JSON.stringify({ type: "auth", token: state.token, queue_updates: "changes" })); };
    ws.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame && typeof frame.type === "string") onFrame(frame);
    };
    ws.onclose = function (event) {
      if (state.ws !== ws) return;
      state.ws = null;
      state.me = null;
      if (Object.keys(state.pendingClaim).length) { state.pendingClaim = {}; renderQueue(); }
      if (event.code === 4401) { signOut("Token no válido. Comprueba que lo has copiado entero."); return; }
      if (state.signingOut) return;
      if (event.code === 4429) {            // throttled: too many failed logins from this address
        scheduleReconnect(60000, "Demasiados intentos de acceso fallidos desde esta dirección");
        return;
      }
      if (event.code === 1013) {            // too many logins being checked, or the database is down
        scheduleReconnect(null, "El servidor no puede comprobar accesos ahora");
        return;
      }
      setConn("Sin conexión", false);
      scheduleReconnect();
    };
  }

  // ``wait``: a fixed delay (ms) instead of the backoff; ``why``: what the status line says.
  function scheduleReconnect(wait, why) {
    if (state.retryTimer || !state.token) return;
    var delay = wait || Math.min(15000, 500 * Math.pow(2, state.attempts)) * (0.8 + Math.random() * 0.4);
    state.attempts += 1;
    setConn((why || "Sin conexión") + " · reintento en " + Math.max(1, Math.round(delay / 1000)) + " s", false);
    state.retryTimer = setTimeout(function () { state.retryTimer = null; connect(); }, delay);
  }
  window.addEventListener("online", function () {
    if (state.retryTimer) { clearTimeout(state.retryTimer); state.retryTimer = null; connect(); }
  });

  function signIn(token) {
    state.token = token;
    try { window.sessionStorage.setItem(TOKEN_KEY, token); } catch (e) { /* this page only */ }
    state.signingOut = false;
    $("signin-error").textContent = "";
    connect();
  }

  function signOut(message) {
    state.signingOut = true;
    state.token = null;
    try { window.sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* ignore */ }
    if (state.retryTimer) { clearTimeout(state.retryTimer); state.retryTimer = null; }
    if (state.ws) { var ws = state.ws; state.ws = null; try { ws.close(1000, "sign out"); } catch (e) { /* ignore */ } }
    state.me = null; state.queue = []; state.knownQueue = {}; state.convs = {}; state.order = [];
    state.activeId = null; state.unseen = 0; renderTitle();
    clear($("transcripts")); clear($("queue")); clear($("tabs"));
    $("app").hidden = true; $("signin").hidden = false;
    if (window.AuroraReports) window.AuroraReports.signedOut();
    $("signout").hidden = true; $("sound").hidden = true; $("me").textContent = "";
    $("conn").textContent = ""; $("conn").className = "conn";
    $("signin-error").textContent = message || "";
    $("token").value = "";
    $("token").focus();
  }

  // -- frames --
  function onFrame(frame) {
    switch (frame.type) {
      case "authenticated": onAuthenticated(frame); break;
      case "queue": onQueue(frame.conversations || []); break;
      case "queue_changed": onQueueChanged(frame); break;
      case "conversation": onConversation(frame); break;
      case "message": onCustomerMessage(frame); break;
      case "note": onNote(frame); break;
      case "ack": onAck(frame); break;
      case "delivered": onDelivered(frame); break;
      case "typing": onTyping(frame); break;
      case "released": onReleased(frame); break;
      case "closed": onClosed(frame); break;
      case "sla": onSla(frame); break;
      case "labels": onLabels(frame); break;
      case "transcript": onTranscript(frame); break;
      case "error": onError(frame); break;
      default: break;
    }
  }

  function onAuthenticated(frame) {
    state.me = frame.agent || {};
    state.attempts = 0;
    setConn("Conectado", true);
    // the name whole; the id (for transfers) after it, the part that gives way
    clear($("me"));
    $("me").appendChild(el("span", { className: "me-name", text: state.me.name || "" }));
    if (state.me.id) $("me").appendChild(el("span", { className: "me-id", text: "id " + state.me.id }));
    $("me").title = (state.me.name || "") + (state.me.id ? " · id " + state.me.id : "");
    $("signin").hidden = true; $("app").hidden = false;
    $("signout").hidden = false; $("sound").hidden = false;
    if (window.AuroraReports) window.AuroraReports.signedIn(state.me);
    loadCanned();
    // replies typed while disconnected (not yet acknowledged) go again, same client_id
    state.order.forEach(function (id) {
      var conv = state.convs[id];
      Object.keys(conv.pending).forEach(function (clientId) {
        send({ type: "message", conversation_id: id, text: conv.pending[clientId].text, client_id: clientId });
      });
    });
  }

  // The queue's changes since the last frame (the console asks for them at
  // auth): whole entries added or updated, ids removed, and the new order
  // when applying those does not already give it.
  function onQueueChanged(frame) {
    var byId = {};
    state.queue.forEach(function (entry) { byId[entry.conversation_id] = entry; });
    (frame.removed || []).forEach(function (id) { delete byId[id]; });
    var order = state.queue.map(function (entry) { return entry.conversation_id; })
      .filter(function (id) { return byId[id]; });
    (frame.added || []).concat(frame.updated || []).forEach(function (entry) {
      if (!byId[entry.conversation_id]) order.push(entry.conversation_id);
      byId[entry.conversation_id] = entry;
    });
    if (frame.order) order = frame.order.filter(function (id) { return byId[id]; });
    onQueue(order.map(function (id) { return byId[id]; }));
  }

  function onQueue(entries) {
    var fresh = 0;
    var ids = {};
    entries.forEach(function (entry) {
      ids[entry.conversation_id] = true;
      if (!state.knownQueue[entry.conversation_id]) fresh += 1;
    });
    state.knownQueue = ids;
    entries.forEach(function (entry) { if (entry.dueAt === undefined) entry.dueAt = slaDue(entry); });
    state.queue = entries;
    if (fresh) {
      state.unseen += fresh;
      renderTitle();
      beep();
    }
    renderQueue();
  }

  // -- keyboard focus across a re-render: lists are rebuilt from scratch, so the
  // focused control is remembered by its conversation id (and which control it
  // was) and focused again in the new list; focus outside the list (the reply
  // box) is never touched --
  function focusInside(list) {
    var active = document.activeElement;
    if (!active || active === list || !list.contains(active)) return null;
    var item = active.closest("[data-conversation-id]");
    return {
      id: item ? item.getAttribute("data-conversation-id") : null,
      control: active.getAttribute("data-control") || "",
      index: item ? Array.prototype.indexOf.call(list.children, item.closest("#" + list.id + " > li")) : -1
    };
  }
  function restoreFocus(list, kept, fallback) {
    if (!kept) return;
    var items = Array.prototype.filter.call(list.children, function (li) { return li.tagName === "LI"; });
    var same = items.filter(function (li) {
      return li.getAttribute("data-conversation-id") === kept.id || !!li.querySelector('[data-conversation-id="' + kept.id + '"]');
    })[0];
    var control = function (li) {
      return (kept.control && li.querySelector('[data-control="' + kept.control + '"]')) || li.querySelector("button, a[href]");
    };
    // gone (claimed by someone else): the entry now in its place, else the last one, else the heading
    var target = same ? control(same) : items.length ? control(items[Math.min(Math.max(kept.index, 0), items.length - 1)]) : null;
    (target || fallback).focus({ preventScroll: !!same });
  }

  function setClaimPending(button, reason, pending) {
    button.textContent = pending ? "Atendiendo…" : "Atender";
    button.setAttribute("aria-label", (pending ? "Atendiendo… " : "Atender: ") + reason);
    // aria-disabled, not disabled: a focused button keeps keyboard focus while it waits
    if (pending) button.setAttribute("aria-disabled", "true"); else button.removeAttribute("aria-disabled");
  }

  function renderQueue() {
    var list = $("queue");
    var kept = focusInside(list);
    clear(list);
    $("queue-count").textContent = String(state.queue.length);
    $("queue-empty").hidden = state.queue.length > 0;
    state.queue.forEach(function (entry) {
      var customer = entry.customer && (entry.customer.name || entry.customer.email);
      var id = entry.conversation_id;
      var reason = reasonLabel(entry.reason, entry.reason_text);
      var claimBtn = el("button", { type: "button", className: "primary claim", "data-control": "claim",
        onclick: function () {
          if (state.pendingClaim[id]) return;          // pressed already: waiting for the bridge's answer
          state.pendingClaim[id] = true;
          setClaimPending(claimBtn, reason, true);
          seenAll();
          if (!send({ type: "claim", conversation_id: id })) {
            delete state.pendingClaim[id];
            setClaimPending(claimBtn, reason, false);
            showAlert("Sin conexión: no se ha podido atender la conversación.");
          }
        } });
      setClaimPending(claimBtn, reason, !!state.pendingClaim[id]);
      var late = entry.dueAt !== null && (entry.breached || entry.dueAt <= Date.now());
      list.appendChild(el("li", { className: "q-item" + (late ? " breached" : ""), "data-conversation-id": entry.conversation_id }, [
        el("div", { className: "q-top" }, [
          el("span", { className: "q-reason", text: reasonLabel(entry.reason, entry.reason_text) }),
          el("span", { className: "q-wait", "data-since": entry.waiting_since || "", title: "Tiempo en cola",
            text: duration(entry.waiting_since) })
        ]),
        slaBadge(entry, entry.dueAt),
        el("div", { className: "q-meta" }, [
          channelBadge(entry.channel),
          customer ? el("span", { className: "pill ok", text: "Verificado: " + customer }) : el("span", { className: "pill", text: "Sin verificar" }),
          entry.offline ? el("span", { className: "pill warn", text: "Fuera de horario" }) : null,
          // a web shopper whose page closed (past a short grace): the reply waits for their return
          entry.present === false ? el("span", { className: "pill warn q-gone",
            title: "El cliente cerró el chat" + (entry.gone_since ? " a las " + timeOf(entry.gone_since) : "") +
              ": verá la respuesta cuando vuelva (o por email si lo dejó).",
            text: "Ha cerrado el chat" }) : null,
          entry.contact_email ? el("span", { className: "pill contact" }, ["✉ ", emailNode(entry.contact_email)]) : null
        ]),
        entry.customer_name ? el("p", { className: "q-name" }, [
          el("span", { className: "q-name-label", text: nameLabel(entry.channel) + ": " }),
          el("span", { className: "q-name-value", text: entry.customer_name })
        ]) : null,
        el("p", { className: "q-preview", text: entry.preview ? "«" + entry.preview + "»" : (entry.preview_note || "(sin mensaje)") }),
        claimBtn
      ]));
    });
    restoreFocus(list, kept, $("queue-title"));
  }

  function tick() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-since]"), function (node) {
      var since = node.getAttribute("data-since");
      if (since) node.textContent = duration(since);
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-due]"), function (node) {
      var dueAt = Number(node.getAttribute("data-due"));
      node.textContent = slaText(dueAt);
      if (dueAt <= Date.now() && !node.classList.contains("breached")) {
        node.classList.add("breached");
        var item = node.closest(".q-item");
        if (item) item.classList.add("breached");
      }
    });
    var now = Date.now();
    var conv = state.convs[state.activeId];
    if (conv && conv.typingUntil && conv.typingUntil < now) { conv.typingUntil = 0; renderTyping(); }
  }
  setInterval(tick, 1000);

  // -- conversations --
  function getConv(id) {
    var conv = state.convs[id];
    if (!conv) {
      conv = state.convs[id] = {
        id: id, channel: "web", status: "open", history: {}, pending: {}, unread: 0, typingUntil: 0,
        draft: "", context: {}, waiting_since: null, contact_email: null, customer_name: null,
        list: el("ol", { className: "transcript", "data-conversation-id": id })
      };
      conv.log = el("div", { className: "transcript-log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
        "aria-label": "Mensajes de la conversación", hidden: true }, [conv.list]);
      $("transcripts").appendChild(conv.log);
      followSize(conv.list);
      state.order.push(id);
    }
    return conv;
  }

  function convName(conv) {
    var customer = conv.context && conv.context.customer;
    if (customer && (customer.name || customer.email)) return customer.name || customer.email;
    if (conv.customer_name) return conv.customer_name + " (sin verificar)";
    if (conv.contact_email) return conv.contact_email;
    return "Cliente " + String(conv.id).slice(0, 8);
  }

  function onConversation(frame) {
    var conv = getConv(frame.conversation_id);
    var reopened = conv.status !== "open";
    conv.status = "open";
    conv.channel = frame.channel || conv.channel;
    conv.waiting_since = frame.waiting_since || conv.waiting_since;
    conv.contact_email = frame.contact_email || null;
    conv.context = frame.context || {};
    conv.labels = Array.isArray(frame.labels) ? frame.labels : (conv.labels || []);
    if (Array.isArray(frame.label_suggestions)) state.labelSuggestions = frame.label_suggestions;
    conv.customer_name = frame.customer_name || conv.context.customer_name || null;
    conv.sla = frame.respond_by ? { frame: frame, dueAt: slaDue(frame) } : null;  // unanswered: its deadline
    if (reopened) addEvent(conv, "Conversación asignada a ti de nuevo");
    (frame.history || []).forEach(function (line) { addLine(conv, line); });
    var claimed = state.pendingClaim[conv.id];
    delete state.pendingClaim[conv.id];
    if (claimed || !state.activeId || (state.convs[state.activeId] && state.convs[state.activeId].status !== "open")) {
      select(conv.id, claimed);
    } else {
      if (conv.id !== state.activeId) { conv.unread += 1; beep(); }
      renderTabs();
      if (conv.id === state.activeId) renderConv();  // title and card (e.g. the customer was verified)
    }
  }

  function renderAttachment(att) {
    if (!att || typeof att !== "object") return null;
    var name = typeof att.name === "string" && att.name ? att.name : "";
    var url = attachmentUrl(att.url);
    if (att.kind === "photo") {
      var label = name || "Foto del cliente";
      if (!url) return el("span", { className: "att att-broken", text: "Foto «" + label + "» (enlace no válido)" });
      var img = el("img", { className: "att-thumb", src: url, alt: "Foto del cliente: " + label, loading: "lazy", decoding: "async" });
      var link = el("a", { className: "att att-photo", href: url, target: "_blank", rel: "noopener",
        title: "Abrir la foto a tamaño completo (pestaña nueva)", "data-attachment-id": att.id }, [img]);
      img.addEventListener("load", keepBottom);
      img.addEventListener("error", function () {
        if (link.parentNode) link.parentNode.replaceChild(el("span", { className: "att att-broken",
          text: "No se ha podido cargar la foto «" + label + "» (el enlace puede haber caducado: recarga la página)" }), link);
      });
      return link;
    }
    var fileName = name || "documento";
    if (!url) return el("span", { className: "att att-broken", text: "Documento «" + fileName + "» (enlace no válido)" });
    var ext = /\.([A-Za-z0-9]{1,4})$/.exec(fileName);
    return el("a", { className: "att att-doc", href: url, download: fileName, rel: "noopener",
      title: "Descargar " + fileName + (att.content_type ? " (" + att.content_type + ")" : ""), "data-attachment-id": att.id }, [
      el("span", { className: "att-icon", "aria-hidden": "true", text: ext ? ext[1].toUpperCase() : "DOC" }),
      el("span", { className: "att-name", text: fileName })
    ]);
  }
  function renderAttachments(list) {
    if (!Array.isArray(list) || !list.length) return null;
    var nodes = list.map(renderAttachment).filter(Boolean);
    return nodes.length ? el("div", { className: "atts" }, nodes) : null;
  }
  function setAttachments(item, list) {
    var old = item.querySelector(".atts");
    var fresh = renderAttachments(list);
    if (old && fresh) item.replaceChild(fresh, old);
    else if (fresh) item.insertBefore(fresh, item.querySelector(".at"));
  }

  function addLine(conv, line) {
    var id = line.id !== undefined && line.id !== null ? String(line.id) : null;
    if (id && conv.history[id]) {
      // already shown: only swap attachment URLs for freshly signed ones
      if (Array.isArray(line.attachments) && line.attachments.length) setAttachments(conv.history[id], line.attachments);
      return null;
    }
    var sender = line.sender;
    var who;
    if (sender === "agent") who = (line.agent_name || "Agente") + (state.me && line.agent_name === state.me.name ? " (tú)" : "");
    else if (sender === "note") who = "Nota interna · " + (line.agent_name || "") + " · el cliente no la ve";
    else who = SENDERS[sender] || sender;
    var atts = renderAttachments(line.attachments);
    var item = el("li", { className: "line " + (SENDERS[sender] || sender === "agent" || sender === "note" ? sender : "system") }, [
      el("span", { className: "who", text: who }),
      // URLs are links, except in what the customer wrote (copied, not one click away)
      atts && PLACEHOLDERS[line.text] ? null : richText(el("div", { className: "text" }), line.text, sender !== "customer"),
      atts,
      el("span", { className: "at", text: timeOf(line.at) + deliveryMark(conv, line, id) })
    ]);
    if (id) { item.setAttribute("data-id", id); conv.history[id] = item; }
    conv.list.appendChild(item);
    if (conv.id === state.activeId) scrollDown();
    return item;
  }

  // an agent's stored message: "entregado" when the shopper's side confirmed it
  // (stored ``delivered_at``, or a ``delivered`` frame seen), else "enviado"
  function deliveryMark(conv, line, id) {
    if (line.sender !== "agent" || !id) return "";
    return line.delivered_at || (conv.delivered && conv.delivered[id]) ? " · entregado ✓✓" : " · enviado ✓";
  }

  function addEvent(conv, text) {
    conv.list.appendChild(el("li", { className: "event", text: text }));
    if (conv.id === state.activeId) scrollDown();
  }

  // The transcript shows its end: after every new line, when a conversation is
  // opened, and whenever the transcript's box or the shown conversation changes
  // size while the agent is at the end (the header and the composer drawn again
  // on close, release or a missed promise, a thumbnail loaded, the chats view
  // shown again after «Informes»). An agent who scrolled up to read stays where
  // they are until they scroll back to the end.
  var FOLLOW_SLACK = 80;
  state.follow = true;
  function scrollDown() { var box = $("transcripts"); box.scrollTop = box.scrollHeight; state.follow = true; }
  $("transcripts").addEventListener("scroll", function () {
    var box = $("transcripts");
    if (box.clientHeight) state.follow = box.scrollHeight - box.scrollTop - box.clientHeight <= FOLLOW_SLACK;
  });
  var follower = typeof ResizeObserver === "function" ? new ResizeObserver(function () {
    if (state.follow && $("transcripts").clientHeight) scrollDown();
  }) : null;
  function followSize(node) { if (follower) follower.observe(node); }
  followSize($("transcripts"));
  // a thumbnail that loads late grows the transcript: follow it if the agent was at the bottom
  function keepBottom(event) {
    var box = $("transcripts");
    var grown = event && event.target ? event.target.offsetHeight : 0;
    if (box.scrollHeight - box.scrollTop - box.clientHeight <= grown + FOLLOW_SLACK) scrollDown();
  }

  function onCustomerMessage(frame) {
    var conv = state.convs[frame.conversation_id];
    if (!conv) return;
    addLine(conv, { id: frame.id, sender: frame.sender || "customer", text: frame.text, at: frame.at, attachments: frame.attachments });
    conv.typingUntil = 0;
    if (conv.id !== state.activeId) { conv.unread += 1; beep(); renderTabs(); }
    else renderTyping();
  }

  function onNote(frame) {
    var conv = state.convs[frame.conversation_id];
    if (!conv) return;
    addLine(conv, { id: frame.id, sender: "note", text: frame.text, at: frame.at, agent_name: frame.agent_name });
  }

  function onAck(frame) {
    state.order.forEach(function (id) {
      var conv = state.convs[id];
      var pending = conv.pending[frame.client_id];
      if (!pending) return;
      delete conv.pending[frame.client_id];
      var key = frame.id !== undefined && frame.id !== null ? String(frame.id) : null;
      if (key && conv.history[key] && conv.history[key] !== pending.node) {
        pending.node.parentNode && pending.node.parentNode.removeChild(pending.node);
        return;
      }
      pending.node.classList.remove("pending");
      if (conv.sla) { conv.sla = null; if (id === state.activeId) renderConv(); }  // answered: promise kept (or late)
      // stored and sent: "entregado" only once the shopper's side confirms it (``delivered``)
      var delivered = key && conv.delivered && conv.delivered[key];
      pending.node.querySelector(".at").textContent = timeOf(null) + (delivered ? " · entregado ✓✓" : " · enviado ✓");
      if (key) { pending.node.setAttribute("data-id", key); conv.history[key] = pending.node; }
    });
  }

  function onDelivered(frame) {
    var conv = state.convs[frame.conversation_id];
    if (!conv) return;
    var key = String(frame.id);
    conv.delivered = conv.delivered || {};
    conv.delivered[key] = true;            // the ack may come later: it reads this
    var node = conv.history[key];
    var at = node && node.querySelector(".at");
    if (at && /enviado/.test(at.textContent)) at.textContent = at.textContent.replace(/enviado ✓/, "entregado ✓✓");
  }

  function onTyping(frame) {
    var conv = state.convs[frame.conversation_id];
    if (!conv) return;
    conv.typingUntil = Date.now() + TYPING_SHOW_MS;
    if (conv.id === state.activeId) renderTyping();
  }

  function renderTyping() {
    var conv = state.convs[state.activeId];
    $("typing").textContent = conv && conv.typingUntil > Date.now() ? "El cliente está escribiendo…" : "";
  }

  function onReleased(frame) {
    var conv = state.convs[frame.conversation_id];
    if (!conv) return;
    conv.status = "released";
    addEvent(conv, frame.to === "queue" ? "Has devuelto la conversación a la cola" : "Has transferido la conversación al agente " + frame.to);
    renderTabs();
    if (conv.id === state.activeId) { renderConv(); scrollDown(); }
  }

  function onClosed(frame) {
    var conv = state.convs[frame.conversation_id];
    if (!conv) return;
    conv.status = "closed";
    if (conv.id === state.activeId) $("conv-error").textContent = "";
    addEvent(conv, "Conversación cerrada (" + (frame.resolution === "unresolved" ? "sin resolver" : "resuelta") +
      "). El cliente vuelve con el asistente y se le pide su valoración.");
    renderTabs();
    if (conv.id === state.activeId) { renderConv(); scrollDown(); }  // the header may have grown: the notice in view
  }

  function onError(frame) {
    var text = frame.detail || "Error";
    if (frame.code === "unauthorized") { signOut(text); return; }
    if (frame.code === "too_many_attempts" || frame.code === "busy") { $("signin-error").textContent = text; return; }
    var conv = frame.conversation_id && state.convs[frame.conversation_id];
    if (frame.code === "invalid_label" && conv) {
      conv.labelError = text;
      conv.labelSent = null;
      if (conv.id === state.activeId) labelError(text);
      return;
    }
    if (state.transcriptOpener && frame.conversation_id && state.transcriptOpener.getAttribute("data-transcript") === frame.conversation_id) {
      state.transcriptOpener.removeAttribute("aria-busy");
      showAlert("No se ha podido abrir esa conversación: " + text);
      return;
    }
    if (frame.conversation_id && state.pendingClaim[frame.conversation_id]) {
      delete state.pendingClaim[frame.conversation_id];
      renderQueue();
    }
    if (conv && conv.id === state.activeId) {
      var box = $("conv-error");
      box.textContent = "";
      box.appendChild(el("span", { text: text + " " }));
      box.appendChild(el("code", { text: frame.code || "" }));
      clearTimeout(state.convErrorTimer);
      state.convErrorTimer = setTimeout(function () { box.textContent = ""; }, 15000);
      scrollDown();
    } else {
      showAlert(text, frame.code);
    }
  }

  // -- selection and rendering --
  function select(id, focusComposer) {
    var previous = state.convs[state.activeId];
    if (previous) { previous.draft = $("composer-text").value; previous.log.hidden = true; }
    state.activeId = id;
    var conv = state.convs[id];
    if (!conv) return;
    conv.unread = 0;
    conv.log.hidden = false;
    $("composer-text").value = conv.draft || "";
    $("conv-error").textContent = "";
    renderTabs();
    renderConv();
    scrollDown();
    if (focusComposer && conv.status === "open") $("composer-text").focus();
  }

  function removeConv(id) {
    var conv = state.convs[id];
    if (!conv) return;
    conv.log.parentNode && conv.log.parentNode.removeChild(conv.log);
    delete state.convs[id];
    state.order = state.order.filter(function (x) { return x !== id; });
    if (state.activeId === id) {
      state.activeId = null;
      var next = state.order[state.order.length - 1];
      if (next) { select(next, false); return; }
    }
    renderTabs();
    renderConv();
  }

  function renderTabs() {
    var list = $("tabs");
    var kept = focusInside(list);
    clear(list);
    $("tabs-empty").hidden = state.order.length > 0;
    state.order.forEach(function (id) {
      var conv = state.convs[id];
      var status = conv.status === "open" ? reasonLabel(conv.context.reason, conv.context.reason_text)
        : conv.status === "closed" ? "Cerrada" : "Transferida";
      var tab = el("button", { type: "button", className: "tab", "aria-current": id === state.activeId ? "true" : "false",
        "data-conversation-id": id, "data-control": "tab", onclick: function () { select(id, true); } }, [
        el("span", { className: "t-name" }, [
          el("span", { className: "t-title" }, [nameNode(convName(conv))]),
          conv.unread ? el("span", { className: "unread", text: String(conv.unread), "aria-label": conv.unread + " sin leer" }) : null
        ]),
        el("span", { className: "t-sub", text: channelLabel(conv.channel) + " · " + status })
      ]);
      var item = el("li", { "data-conversation-id": id }, [tab]);
      if (conv.status !== "open") {
        item.appendChild(el("button", { type: "button", className: "ghost-dark", text: "Quitar de la lista", "data-control": "remove",
          style: "margin-top:4px;font-size:12px", onclick: function () { removeConv(id); } }));
      }
      list.appendChild(item);
    });
    restoreFocus(list, kept, $("mine-title"));
  }

  function open_(conv) { return conv.status === "open"; }

  // the shopper was told sorry for the wait (a missed promise): the deadline is marked
  function onSla(frame) {
    var conv = state.convs[frame.conversation_id];
    if (!conv) return;
    conv.sla = frame.respond_by ? { frame: frame, dueAt: slaDue(frame) } : null;
    if (frame.breached) addEvent(conv, "Plazo de primera respuesta vencido: el cliente ha recibido una disculpa " +
      "y la promesa de respuesta antes de las " + timeOf(frame.promised_by));
    if (conv.id === state.activeId) { renderConv(); if (frame.breached) scrollDown(); }
  }

  function renderConv() {
    var conv = state.convs[state.activeId];
    $("empty-state").hidden = !!conv;
    $("conv").hidden = !conv;
    if (!conv) { renderCard(); return; }
    clear($("conv-title"));
    $("conv-title").appendChild(nameNode(convName(conv)));
    var sub = channelLabel(conv.channel) + " · " + reasonLabel(conv.context.reason, conv.context.reason_text);
    if (conv.waiting_since) sub += " · en cola desde las " + timeOf(conv.waiting_since);
    if (conv.status === "closed") sub += " · CERRADA";
    if (conv.status === "released") sub += " · TRANSFERIDA";
    $("conv-sub").textContent = sub;
    var slaBox = $("conv-sla");
    clear(slaBox);
    var badge = conv.sla && open_(conv) ? slaBadge(conv.sla.frame, conv.sla.dueAt) : null;
    if (badge) slaBox.appendChild(badge);
    slaBox.hidden = !badge;
    var open = conv.status === "open";
    ["transfer-form", "close-form", "composer"].forEach(function (formId) {
      var form = $(formId);
      form.setAttribute("aria-disabled", open ? "false" : "true");
      Array.prototype.forEach.call(form.querySelectorAll("button, input, select, textarea"), function (c) { c.disabled = !open; });
    });
    renderTyping();
    renderCard();
  }

  function section(title, children) {
    return el("section", { className: "card-sec" }, [el("h3", { text: title })].concat(children));
  }
  function kv(pairs) {
    var dl = el("dl", { className: "kv" });
    pairs.forEach(function (pair) {
      if (pair[1] === null || pair[1] === undefined || pair[1] === "") return;
      dl.appendChild(el("dt", { text: pair[0] }));
      var dd = el("dd");
      if (pair[1] instanceof Node) dd.appendChild(pair[1]); else dd.textContent = String(pair[1]);
      dl.appendChild(dd);
    });
    return dl;
  }

  function renderCard() {
    var body = $("card-body");
    var hadLabelFocus = document.activeElement && document.activeElement.id === "label-input";
    clear(body);
    var conv = state.convs[state.activeId];
    if (!conv) { body.appendChild(el("p", { className: "empty", text: "Sin conversación seleccionada." })); return; }
    var ctx = conv.context || {};
    var details = Array.isArray(ctx.details_list) ? ctx.details_list : [];

    body.appendChild(section("Motivo", [
      el("p", { text: reasonLabel(ctx.reason, ctx.reason_text) }),
      frustrationLine(ctx.frustration) ? el("p", { className: "frustration", text: frustrationLine(ctx.frustration) }) : null,
      details.length ? kv(details.map(function (row) { return [row.label, row.value]; })) : null
    ]));

    var customer = ctx.customer;
    // the channel's name (Telegram's first name) is never proof of identity: own line, labelled
    var channelName = conv.customer_name ? el("p", { className: "ch-name" }, [
      el("span", { className: "ch-name-label", text: nameLabel(conv.channel) + ": " }),
      el("span", { className: "ch-name-value", text: conv.customer_name })
    ]) : null;
    body.appendChild(section("Cliente", customer ? [
      el("p", null, [el("span", { className: "pill ok", text: "Verificado" }), channelBadge(conv.channel)]),
      kv([["Nombre", customer.name], ["Correo", customer.email ? emailNode(customer.email) : null],
          ["Pedido verificado", customer.verified_order_id],
          ["Verificado con", customer.verified_by_text || "Otra verificación"],
          ["N.º de cliente", customer.id], ["Contacto", conv.contact_email ? emailNode(conv.contact_email) : null]]),
      channelName
    ] : [
      el("p", null, [el("span", { className: "pill", text: "Sin verificar" }), channelBadge(conv.channel)]),
      channelName,
      el("p", { className: "empty", text: "El asistente no verificó ningún pedido: no compartas datos de pedidos sin verificar." }),
      conv.contact_email ? kv([["Correo de contacto", emailNode(conv.contact_email)]]) : null
    ]));

    body.appendChild(renderLabels(conv));
    if (hadLabelFocus) $("label-input").focus();

    body.appendChild(renderEarlier(ctx));
    var told = renderNotifications(ctx);
    if (told) body.appendChild(told);

    var intents = Array.isArray(ctx.intents) ? ctx.intents : [];
    body.appendChild(section("Últimas intenciones", intents.length ? intents.map(function (intent) {
      var pct = Math.round(Math.max(0, Math.min(1, Number(intent.confidence) || 0)) * 100);
      var bar = el("span", { className: "bar", "aria-hidden": "true" }, [el("i")]);
      bar.firstChild.style.width = pct + "%";
      return el("div", { className: "intent" }, [el("span", { text: intent.label || "Otra intención" }), bar,
        el("span", { text: pct + " %", title: "Confianza del asistente" })]);
    }) : [el("p", { className: "empty", text: ctx.last_intent_text ? "Última: " + ctx.last_intent_text : "Ninguna registrada." })]));

    var entities = Array.isArray(ctx.entities_list) ? ctx.entities_list : [];
    body.appendChild(section("Datos detectados", entities.length ? [kv(entities.map(function (row) {
      return [row.label, row.value];
    }))] : [el("p", { className: "empty", text: "Ninguno." })]));

    var answers = Array.isArray(ctx.bot_answers) ? ctx.bot_answers : [];
    body.appendChild(section("Lo que ya respondió el asistente", answers.length ? [
      el("ol", { className: "answers" }, answers.map(function (a) { return richText(el("li"), a, true); }))
    ] : [el("p", { className: "empty", text: "Nada todavía." })]));

    var orders = Array.isArray(ctx.orders) ? ctx.orders : [];
    var orderNodes = [];
    if (ctx.orders_error) orderNodes.push(el("p", { className: "warn-box", text: "No se ha podido leer la tienda ahora mismo; vuelve a intentarlo más tarde." }));
    if (!customer) orderNodes.push(el("p", { className: "empty", text: "Solo se muestran los pedidos de un cliente verificado." }));
    else if (!orders.length && !ctx.orders_error) orderNodes.push(el("p", { className: "empty", text: "Sin pedidos." }));
    // the verified order first
    orders.slice().sort(function (a, b) { return (b.verified ? 1 : 0) - (a.verified ? 1 : 0); })
      .forEach(function (order) { orderNodes.push(renderOrder(order)); });
    body.appendChild(section("Pedidos", orderNodes));
  }

  // -- labels (chips with a remove button, an input with suggestions) --
  function renderLabels(conv) {
    var labels = Array.isArray(conv.labels) ? conv.labels : [];
    var chips = el("ul", { className: "chips", "aria-label": "Etiquetas de esta conversación" }, labels.map(function (name) {
      return el("li", { className: "chip" }, [
        el("span", { text: name }),
        el("button", { type: "button", className: "chip-x", "aria-label": "Quitar la etiqueta " + name, title: "Quitar",
          text: "×", onclick: function () { changeLabels(conv, [], [name]); } })
      ]);
    }));
    var used = {};
    labels.forEach(function (l) { used[l] = true; });
    var list = el("datalist", { id: "label-suggestions" }, (state.labelSuggestions || []).filter(function (l) { return !used[l]; })
      .map(function (l) { return el("option", { value: l }); }));
    var input = el("input", { id: "label-input", type: "text", maxlength: "32", autocomplete: "off", spellcheck: "false",
      list: "label-suggestions", placeholder: "p. ej. talla", "aria-describedby": "label-hint label-error" });
    input.value = conv.labelDraft || "";
    input.addEventListener("input", function () {
      var lower = input.value.toLowerCase();
      if (lower !== input.value) input.value = lower;
      conv.labelDraft = input.value;
      if (conv.labelError) labelError("");
    });
    var form = el("form", { className: "label-form", "aria-label": "Añadir etiqueta" }, [
      el("label", { "for": "label-input", className: "sr", text: "Nueva etiqueta" }),
      input,
      el("button", { type: "submit", className: "ghost-dark", text: "Añadir" })
    ]);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var name = input.value.trim().toLowerCase();
      if (!name) return;
      if (!LABEL_RE.test(name)) {  // the length is the input's maxlength (and the bridge's check)
        labelError("«" + name + "» no vale: una sola palabra en minúsculas, sin espacios (letras, números y guiones), hasta 32 caracteres.");
        return;
      }
      changeLabels(conv, [name], []);
    });
    var suggestions = (state.labelSuggestions || []).filter(function (l) { return !used[l]; }).slice(0, 6);
    return section("Etiquetas", [
      labels.length ? chips : el("p", { className: "empty", text: "Sin etiquetas." }),
      form,
      suggestions.length ? el("p", { className: "label-sugg" }, [el("span", { id: "label-hint", text: "Más usadas: " })].concat(
        suggestions.map(function (name) {
          return el("button", { type: "button", className: "chip-add", "aria-label": "Añadir la etiqueta " + name,
            text: "+ " + name, onclick: function () { changeLabels(conv, [name], []); } });
        }))) : el("p", { id: "label-hint", className: "hint", text: "Una palabra en minúsculas, p. ej. «talla»." }),
      el("p", { id: "label-error", className: "error", role: "alert", text: conv.labelError || "" }),
      list
    ]);
  }
  function labelError(text) {
    var conv = state.convs[state.activeId];
    if (conv) conv.labelError = text;
    var box = $("label-error");
    if (box) box.textContent = text;
  }
  function changeLabels(conv, add, remove) {
    conv.labelError = "";
    if (!send({ type: "label", conversation_id: conv.id, add: add, remove: remove })) {
      labelError("Sin conexión: la etiqueta no se ha guardado.");
      return;
    }
    if (add.length) conv.labelSent = add[0];
  }
  function onLabels(frame) {
    if (Array.isArray(frame.suggestions)) state.labelSuggestions = frame.suggestions;
    var conv = state.convs[frame.conversation_id];
    if (!conv) return;
    conv.labels = Array.isArray(frame.labels) ? frame.labels : [];
    if (conv.labelSent && conv.labels.indexOf(conv.labelSent) >= 0) conv.labelDraft = "";
    conv.labelSent = null;
    conv.labelError = "";
    if (conv.id === state.activeId) {
      var focused = document.activeElement;
      var fromChip = focused && focused.className === "chip-x";
      renderCard();
      if (fromChip || (focused && focused.className === "chip-add")) $("label-input").focus();
    }
  }

  // -- the customer's earlier conversations, each opening its transcript --
  function dateTimeOf(iso) {
    if (!iso) return "—";
    var d = new Date(iso);
    return isNaN(d.getTime()) ? "—" : d.toLocaleString("es-ES", { day: "2-digit", month: "2-digit", year: "numeric",
      hour: "2-digit", minute: "2-digit" });
  }
  function csatText(score) {
    return typeof score === "number" ? score + " de 5" : "Sin valorar";
  }
  function renderEarlier(ctx) {
    var earlier = Array.isArray(ctx.previous_conversations) ? ctx.previous_conversations : [];
    if (!ctx.customer && !earlier.length) {
      return section("Conversaciones anteriores", [el("p", { className: "empty", text: "Solo para un cliente verificado." })]);
    }
    if (!earlier.length) return section("Conversaciones anteriores", [el("p", { className: "empty", text: "Es su primera conversación." })]);
    return section("Conversaciones anteriores", [el("ul", { className: "earlier" }, earlier.map(function (row) {
      return el("li", { className: "earlier-item" }, [
        el("div", { className: "earlier-head" }, [
          el("span", { className: "earlier-date", text: dateTimeOf(row.started_at) }),
          channelBadge(row.channel)
        ]),
        kv([["Motivo", row.reason_text || "Sin motivo"], ["Resultado", row.outcome_text || "Otro resultado"],
            ["Agente", row.agent_name || "Ninguno"], ["Valoración", csatText(row.csat)],
            ["Etiquetas", (row.labels || []).length ? row.labels.join(", ") : null]]),
        el("button", { type: "button", className: "ghost-dark", "data-transcript": row.conversation_id,
          "aria-label": "Ver conversación del " + dateTimeOf(row.started_at) + " (" + channelLabel(row.channel) + ")",
          text: "Ver conversación", onclick: function (event) { openTranscript(row, event.currentTarget); } })
      ]);
    }))]);
  }
  // -- what the shop's order updates told this customer (newest first) --
  function renderNotifications(ctx) {
    var told = Array.isArray(ctx.notifications) ? ctx.notifications : [];
    if (!told.length) return null;
    return section("Avisos de pedidos enviados", [el("ul", { className: "earlier notifications" }, told.map(function (row) {
      return el("li", { className: "earlier-item" }, [
        el("div", { className: "earlier-head" }, [
          el("span", { className: "earlier-date", text: dateTimeOf(row.at) }),
          channelBadge(row.channel)
        ]),
        kv([["Pedido", row.order_id], ["Aviso", row.topic_text],
            ["Estado", row.state_text + (row.reason_text ? " (" + row.reason_text + ")" : "")],
            ["Texto", row.text]])
      ]);
    }))]);
  }
  function openTranscript(row, opener) {
    state.transcriptOpener = opener;
    state.transcriptRow = row;
    if (!send({ type: "transcript", conversation_id: row.conversation_id })) showAlert("Sin conexión: no se puede abrir la conversación.");
    else opener.setAttribute("aria-busy", "true");
  }
  function onTranscript(frame) {
    var dialog = $("transcript-dialog");
    var row = frame.summary || (state.transcriptRow && state.transcriptRow.conversation_id === frame.conversation_id ? state.transcriptRow : {});
    if (state.transcriptOpener) state.transcriptOpener.removeAttribute("aria-busy");
    $("transcript-title").textContent = "Conversación del " + dateTimeOf(row.started_at || frame.started_at) + " · " +
      channelLabel(frame.channel);
    var meta = $("transcript-meta");
    clear(meta);
    meta.appendChild(kv([["Motivo", row.reason_text], ["Resultado", row.outcome_text], ["Agente", row.agent_name || "Ninguno"],
      ["Valoración", csatText(row.csat)], ["Etiquetas", (frame.labels || []).length ? frame.labels.join(", ") : null]]));
    var list = $("transcript-lines");
    clear(list);
    (frame.history || []).forEach(function (line) {
      var who = line.sender === "agent" ? (line.agent_name || "Agente") : line.sender === "note"
        ? "Nota interna · " + (line.agent_name || "") : SENDER_NAMES[line.sender] || "Sistema";
      list.appendChild(el("li", { className: "line " + (SENDER_NAMES[line.sender] ? line.sender : "system") }, [
        el("span", { className: "who", text: who }),
        richText(el("div", { className: "text" }), line.text, line.sender !== "customer"),
        el("span", { className: "at", text: dateTimeOf(line.at) })
      ]));
    });
    if (!(frame.history || []).length) list.appendChild(el("li", { className: "empty", text: "Sin mensajes." }));
    if (typeof dialog.showModal === "function") { if (!dialog.open) dialog.showModal(); } else dialog.setAttribute("open", "");
    $("transcript-close").focus();
    list.scrollTop = list.scrollHeight;  // its end, as the live transcript (not where the last one opened was left)
  }
  $("transcript-close").addEventListener("click", function () { $("transcript-dialog").close(); });
  $("transcript-dialog").addEventListener("close", function () {
    var opener = state.transcriptOpener;
    state.transcriptOpener = null;
    if (opener && document.body.contains(opener)) opener.focus();
  });

  function renderOrder(order) {
    var tracking = null;
    if (order.tracking_number) {
      var url = safeUrl(order.tracking_url);
      tracking = url ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: order.tracking_number })
        : el("span", { text: order.tracking_number });
    }
    var trackingLine = tracking ? el("span", null, [(order.carrier ? order.carrier + " · " : ""), tracking]) : (order.carrier || null);
    var ret = order.return_eligibility || {};
    var retText = ret.eligible ? "Sí" + (ret.days_since_delivery !== null && ret.days_since_delivery !== undefined ? " (entregado hace " + ret.days_since_delivery + " días)" : "")
      : "No: " + (ret.reason_text || "otro motivo");
    var items = Array.isArray(order.items) ? order.items : [];
    return el("div", { className: "order" + (order.verified ? " verified" : "") }, [
      el("div", { className: "order-head" }, [
        el("span", { text: "Pedido " + order.order_id }),
        order.verified ? el("span", { className: "pill ok", text: "Pedido verificado" }) : null,
        el("span", { className: "pill" + (order.status === "cancelled" ? " bad" : order.status === "delivered" ? " ok" : ""),
          title: "Estado del pedido", text: order.status_text || "Otro estado" })
      ]),
      kv([["Fecha", dateOf(order.placed_at)], ["Entrega prevista", dateOf(order.expected_delivery)],
          ["Entregado", order.delivered_at ? dateOf(order.delivered_at) : null],
          ["Total", money(order.total)], ["Pago", order.payment_method], ["Envío", trackingLine],
          ["¿Se puede devolver?", retText],
          ["Devoluciones y cambios", (order.returns || []).length ? order.returns.map(returnLine).join("; ") : null],
          ["Reembolsos", (order.refunds || []).length ? order.refunds.map(refundLine).join("; ") : null]]),
      el("ul", null, items.map(function (item) {
        return el("li", null, [item.quantity + " × " + item.name,
          item.final_sale ? el("span", { className: "pill warn", text: "oferta final", style: "margin-left:4px" }) : null]);
      }))
    ]);
  }

  // -- canned replies --
  function loadCanned() {
    if (state.canned.length) return;
    fetch("/canned-replies.json", { cache: "no-store" }).then(function (r) { return r.ok ? r.json() : { replies: [] }; })
      .then(function (data) {
        state.canned = Array.isArray(data.replies) ? data.replies : [];
        var select = $("canned");
        while (select.options.length > 1) select.remove(1);
        state.canned.forEach(function (reply, index) {
          select.appendChild(el("option", { value: String(index), text: reply.title }));
        });
      })
      .catch(function () { /* the console works without them */ });
  }
  $("canned").addEventListener("change", function (event) {
    var reply = state.canned[Number(event.target.value)];
    event.target.value = "";
    if (!reply) return;
    var box = $("composer-text");
    box.value = box.value.trim() ? box.value.replace(/\s*$/, "") + "\n" + reply.text : reply.text;
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
  });

  // -- composer and actions --
  function mode() {
    var checked = document.querySelector("input[name=mode]:checked");
    return checked ? checked.value : "reply";
  }
  function renderMode() {
    var note = mode() === "note";
    $("composer").classList.toggle("note-mode", note);
    $("composer-send").textContent = note ? "Guardar nota" : "Enviar";
    $("composer-text").setAttribute("aria-label", note ? "Nota interna (el cliente no la ve)" : "Mensaje para el cliente");
    $("composer-text").placeholder = note ? "Nota interna para el equipo… (el cliente no la verá)"
      : "Escribe al cliente… (Enter envía, Mayús+Enter nueva línea)";
    $("composer-hint").textContent = note ? "Nota interna: solo la ve el equipo, nunca el cliente." : "El cliente verá este mensaje.";
  }
  Array.prototype.forEach.call(document.querySelectorAll("input[name=mode]"), function (radio) {
    radio.addEventListener("change", renderMode);
  });

  $("composer").addEventListener("submit", function (event) {
    event.preventDefault();
    var conv = state.convs[state.activeId];
    var box = $("composer-text");
    var text = box.value.trim();
    if (!conv || conv.status !== "open" || !text) return;
    if (mode() === "note") {
      if (!send({ type: "note", conversation_id: conv.id, text: text })) {
        showAlert("Sin conexión: la nota no se ha guardado. Inténtalo de nuevo.");
        return;
      }
    } else {
      var clientId = newId();
      var node = addLine(conv, { sender: "agent", text: text, agent_name: state.me ? state.me.name : "" });
      node.classList.add("pending");
      node.querySelector(".at").textContent = "enviando…";
      conv.pending[clientId] = { text: text, node: node };
      send({ type: "message", conversation_id: conv.id, text: text, client_id: clientId });
    }
    box.value = "";
    conv.draft = "";
    box.focus();
  });
  $("composer-text").addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("composer-text").addEventListener("input", function () {
    var conv = state.convs[state.activeId];
    var now = Date.now();
    if (conv && conv.status === "open" && mode() === "reply" && now - state.lastTypingSent > TYPING_SEND_EVERY_MS) {
      state.lastTypingSent = now;
      send({ type: "typing", conversation_id: conv.id });
    }
  });

  $("transfer-to").addEventListener("change", function (event) {
    $("transfer-agent").hidden = event.target.value !== "agent";
    if (!$("transfer-agent").hidden) $("transfer-agent").focus();
  });
  $("transfer-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var conv = state.convs[state.activeId];
    if (!conv || conv.status !== "open") return;
    var to = $("transfer-to").value === "queue" ? "queue" : $("transfer-agent").value.trim();
    if (!to) { $("transfer-agent").focus(); return; }
    if (!send({ type: "transfer", conversation_id: conv.id, to: to })) showAlert("Sin conexión: no se ha transferido.");
  });
  $("close-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var conv = state.convs[state.activeId];
    if (!conv || conv.status !== "open") return;
    if (!send({ type: "close", conversation_id: conv.id, resolution: $("resolution").value })) {
      showAlert("Sin conexión: no se ha cerrado la conversación.");
    }
  });

  $("signin-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var token = $("token").value.trim();
    if (!token) return;
    try {   // created on a click so browsers let it play later
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (Ctx && !state.audio) state.audio = new Ctx();
    } catch (e) { state.audio = null; }
    signIn(token);
  });
  $("signout").addEventListener("click", function () { signOut(""); });
  $("sound").addEventListener("click", function () {
    state.sound = !state.sound;
    $("sound").setAttribute("aria-pressed", state.sound ? "true" : "false");
    $("sound").textContent = state.sound ? "Sonido: sí" : "Sonido: no";
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { var a = $("alerts"); while (a.firstChild) a.removeChild(a.firstChild); }
  });

  // -- boot --
  if (window.AuroraReports) {   // the supervisors' view (reports.js): the same token, in a header
    window.AuroraReports.start({
      token: function () { return state.token; },
      onUnauthorized: function () { signOut("Tu sesión ya no es válida. Vuelve a entrar con tu token."); },
    });
  }
  renderMode();
  renderTitle();
  if (state.token) { $("signin").hidden = true; setConn("Conectando…", false); connect(); }
  else $("token").focus();
})();
