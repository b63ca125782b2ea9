/*
 * Tienda Aurora: embeddable chat widget.
 *
 * Embedded with ONE tag: <script src="/widget.js"></script>. Talks to the
 * handoff bridge over /ws/chat (docs/protocol.md). Vanilla JS, no build step,
 * nothing fetched from the internet; the styles live in a shadow root so the
 * shop's CSS and the widget's never mix.
 *
 * Rules kept here:
 * - every text from the network or the user is inserted with textContent;
 * - the session id is kept in localStorage; after a drop or a reload the widget
 *   reconnects with backoff and resumes (start.after_id = highest message id
 *   seen), so nothing is shown twice (message ids are the dedupe key);
 * - messages typed while offline wait in an outbox (also in localStorage) and
 *   are sent with their client_id when the session is back; the server's ack
 *   marks them delivered, and a resend is never stored twice by the bridge;
 * - an outbox entry is resent only after a transient error (rate_limited,
 *   unavailable) or no answer; an error with its client_id and any other code
 *   means "refused as it is": it stays shown as not sent, with the server's
 *   reason, is never sent again, and the shopper edits or discards it;
 * - the composer counts code points like the server (MAX_TEXT in
 *   handoff/frames.py) and keeps maxlength in step with that count;
 * - http(s) URLs in bot/agent/system messages become <a> built with DOM APIs
 *   (never innerHTML; other schemes and HTML stay text);
 * - a button press carries reply_to (its message id); buttons are disabled once
 *   their step is over (pressed, the shopper wrote, newer buttons came), the
 *   same rule the bridge applies (Bridge.button_live), also after a reload;
 * - handoff notices are kept in localStorage with their place in the history,
 *   so a reload shows them again, once;
 * - texts follow the store's voice (tú/usted): both sets are here, the bridge
 *   names the store's when it serves this file and in the session frame;
 * - while queued (not claimed) the status offers "Volver al asistente": a
 *   message with the bridge's payload /leave_queue; the bridge decides;
 * - what the server's history says wins over localStorage after a reload: a
 *   stored customer message is "Enviado ✓", a thanks with csat_score is a
 *   rating given (never asked again); a rating sent but not confirmed is kept
 *   and sent again when the server asks for it;
 * - on a phone (≤480 px) the panel is full-screen; touch screens get no
 *   keyboard hint; an amount and its currency ("69,00 €") never split;
 * - TiendaChat.identify({email, name, ts, signature}): the shop's signed word
 *   for a logged-in shopper, sent in the start frame (the bot then never asks
 *   for the purchase e-mail); another shopper's e-mail starts a new session.
 */
(function () {
  "use strict";
  if (window.TiendaChat && window.TiendaChat.version) return;

  var script = document.currentScript;
  var base;
  try { base = new URL(script && script.src ? script.src : location.href, location.href); }
  catch (e) { base = location; }
  var WS_URL = (base.protocol === "https:" ? "wss:" : "ws:") + "//" + base.host + "/ws/chat";

  var KEY = "tiendaAurora.chat.";
  var TYPING_HIDE_MS = 6000;
  var TYPING_SEND_EVERY_MS = 3000;
  var MAX_BACKOFF_MS = 15000;
  var RESEND_AFTER_MS = 8000;
  var MAX_CHARS = 4000;                  // handoff/frames.py MAX_TEXT, in code points
  var COUNT_FROM = 300;                  // the counter shows when this many or fewer are left
  var COUNT_ANNOUNCE_MS = 800;           // screen readers hear the count once typing pauses
  // a text this long is over MAX_CHARS whatever it holds, and its frame could
  // pass the 1 MiB after which the socket is closed without an error: refused here
  var MAX_WIRE_CHARS = 100000;
  // error codes after which the same frame is sent again later (same client_id)
  var TRANSIENT = { rate_limited: true, unavailable: true };
  // files the bridge takes (handoff/channels/web.py WEB_FILE_TYPES); a photo is
  // shrunk to fit FILE_MAX_BYTES, its frame (base64) stays under the 1 MiB frame limit
  var FILE_TYPES = ["image/jpeg", "image/png", "image/webp", "application/pdf"];
  var FILE_MAX_BYTES = 700 * 1024;
  var PHOTO_SIDES = [1600, 1200, 900, 600];

  // -- the store's voice (tú / usted): the bridge fills SERVED_VOICE when it
  // serves this file (data/store/policy.yml brand_voice, STORE_BRAND_VOICE) and
  // names it in the session frame; a copy served elsewhere speaks tú --
  var SERVED_VOICE = "__TIENDA_BRAND_VOICE__";
  var VOICE = SERVED_VOICE === "usted" ? "usted" : "tu";
  var TEXTS = {
    tu: {
      tooLong: "Tu mensaje es demasiado largo (máximo {max} caracteres). Acórtalo o envíalo en varias partes.",
      attach: "Adjuntar una foto o un PDF",
      fileType: "Solo puedo enviar fotos (JPG, PNG o WebP) y documentos PDF.",
      fileTooBig: "Ese PDF es demasiado grande para el chat (máximo {kb} KB). Prueba con uno más pequeño.",
      fileUnreadable: "No he podido leer ese archivo. Inténtalo de nuevo.",
      launcher: "¿Te ayudamos?",
      subtitleBot: "Te responde el asistente virtual",
      subtitleAgent: "Te responde una persona del equipo",
      introBody: "Pregúntame por tus pedidos, envíos, devoluciones o reembolsos. Si lo prefieres, te paso con una persona del equipo.",
      placeholder: "Escribe tu mensaje…",
      contactLabel: "Déjanos tu correo y te escribiremos:",
      contactButton: "Avísame",
      you: "Tú",
      queued: "Te hemos puesto en la cola para hablar con una persona del equipo.",
      csatDone: "Has valorado la atención con un {score} de 5.",
      npsDone: "Has respondido {score} de 10.",
      dataNotSent: "No hemos podido enviar tus datos. Inténtalo de nuevo.",
      genericError: "Ha ocurrido un error. Inténtalo de nuevo.",
      offline: "Sin conexión. Reintentando en {s} s… Tus mensajes se enviarán al volver la conexión.",
      countMax: "Has llegado al máximo de {max} caracteres",
      countOver1: "Sobra 1 carácter: acórtalo para enviarlo",
      countOver: "Sobran {n} caracteres: acórtalo para enviarlo",
      editAnnounce: "El mensaje está en el cuadro de texto: corrígelo y envíalo de nuevo.",
      typingAgent: "La persona que te atiende",
      inQueue: "Estás en la cola · posición {n}",
      writeTo: " Te escribiremos a {email}.",
      emailKnown: " Te escribiremos a tu correo si hace falta.",
      soon: "Enseguida te atiende alguien.",
      serving: "{agent} te está atendiendo",
      writeHere: "Escribe aquí y te responderá en esta conversación.",
      leaveQueue: "Volver al asistente",
      leaveQueueHint: "¿Ya no lo necesitas? Puedes volver al asistente sin esperar.",
      footKeys: "Enter envía · Mayús+Enter nueva línea · Esc cierra"
    },
    usted: {
      tooLong: "Su mensaje es demasiado largo (máximo {max} caracteres). Acórtelo o envíelo en varias partes.",
      attach: "Adjuntar una foto o un PDF",
      fileType: "Solo puedo enviar fotos (JPG, PNG o WebP) y documentos PDF.",
      fileTooBig: "Ese PDF es demasiado grande para el chat (máximo {kb} KB). Pruebe con uno más pequeño.",
      fileUnreadable: "No he podido leer ese archivo. Inténtelo de nuevo.",
      launcher: "¿Le ayudamos?",
      subtitleBot: "Le responde el asistente virtual",
      subtitleAgent: "Le responde una persona del equipo",
      introBody: "Pregúnteme por sus pedidos, envíos, devoluciones o reembolsos. Si lo prefiere, le paso con una persona del equipo.",
      placeholder: "Escriba su mensaje…",
      contactLabel: "Déjenos su correo y le escribiremos:",
      contactButton: "Avísenme",
      you: "Usted",
      queued: "Le hemos puesto en la cola para hablar con una persona del equipo.",
      csatDone: "Ha valorado la atención con un {score} de 5.",
      npsDone: "Ha respondido {score} de 10.",
      dataNotSent: "No hemos podido enviar sus datos. Inténtelo de nuevo.",
      genericError: "Ha ocurrido un error. Inténtelo de nuevo.",
      offline: "Sin conexión. Reintentando en {s} s… Sus mensajes se enviarán al volver la conexión.",
      countMax: "Ha llegado al máximo de {max} caracteres",
      countOver1: "Sobra 1 carácter: acórtelo para enviarlo",
      countOver: "Sobran {n} caracteres: acórtelo para enviarlo",
      editAnnounce: "El mensaje está en el cuadro de texto: corríjalo y envíelo de nuevo.",
      typingAgent: "La persona que le atiende",
      inQueue: "Está en la cola · posición {n}",
      writeTo: " Le escribiremos a {email}.",
      emailKnown: " Le escribiremos a su correo si hace falta.",
      soon: "Enseguida le atiende alguien.",
      serving: "{agent} le está atendiendo",
      writeHere: "Escriba aquí y le responderá en esta conversación.",
      leaveQueue: "Volver al asistente",
      leaveQueueHint: "¿Ya no lo necesita? Puede volver al asistente sin esperar.",
      footKeys: "Enter envía · Mayús+Enter nueva línea · Esc cierra"
    }
  };
  // t("inQueue", {n: 2}): the text in the store's voice, placeholders filled
  function t(key, values) {
    var text = TEXTS[VOICE][key];
    if (values) Object.keys(values).forEach(function (name) { text = text.split("{" + name + "}").join(String(values[name])); });
    return text;
  }
  var TOO_LONG = t("tooLong", { max: MAX_CHARS });

  // -- persistence (localStorage may be unavailable: private mode, quota) --
  function load(name, fallback) {
    try {
      var raw = window.localStorage.getItem(KEY + name);
      return raw === null ? fallback : JSON.parse(raw);
    } catch (e) { return fallback; }
  }
  function save(name, value) {
    try {
      if (value === null || value === undefined) window.localStorage.removeItem(KEY + name);
      else window.localStorage.setItem(KEY + name, JSON.stringify(value));
      return true;
    } catch (e) { return false; /* not persisted: the widget still works for this page */ }
  }
  // the outbox; if a photo does not fit in localStorage, the messages still do
  // (the photo then waits for the connection on this page only)
  function saveOutbox() {
    if (save("outbox", state.outbox)) return;
    save("outbox", state.outbox.filter(function (item) { return item.frame.type !== "attachment"; }));
  }

  // -- tiny DOM helper: attributes and text only, never HTML --
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
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  // outbox entries as stored (older versions, another tab, a hand edit): keep
  // only well-formed ones, each frame carrying its own client_id (else no ack
  // would ever end its resends)
  function loadOutbox() {
    var items = load("outbox", []);
    if (!Array.isArray(items)) return [];
    return items.filter(function (item) {
      return item && typeof item === "object" && typeof item.client_id === "string" && item.client_id &&
        item.frame && typeof item.frame === "object" && typeof item.frame.type === "string";
    }).map(function (item) {
      item.frame.client_id = item.client_id;
      if (typeof item.text !== "string" && item.frame.type === "message" && typeof item.frame.text === "string") {
        item.text = item.frame.text;
      }
      if (item.refused && typeof item.refused !== "object") item.refused = { code: "refused", detail: "" };
      delete item.sentAt;
      return item;
    });
  }

  // handoff notices as stored: well-formed ones only, the latest MAX_NOTICES
  var MAX_NOTICES = 50;
  function loadNotices() {
    var items = load("notices", []);
    if (!Array.isArray(items)) return [];
    return items.filter(function (n) {
      return n && typeof n.key === "string" && typeof n.text === "string" && typeof n.after === "number";
    }).slice(-MAX_NOTICES);
  }

  // a rating sent but not confirmed, as stored: {frame: {type, score, comment?},
  // after: the highest message id when it was sent, agent: whom it rates}
  function loadCsatGiven() {
    var given = load("csat", null);
    if (!given || typeof given !== "object" || !given.frame || typeof given.frame.score !== "number" ||
        typeof given.after !== "number") return null;
    given.frame.type = "csat";
    return given;
  }

  // length as the server counts it: code points, not UTF-16 units
  function codePoints(text) {
    var pairs = text.match(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g);
    return text.length - (pairs ? pairs.length : 0);
  }

  function newId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return "c" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
  }

  function timeOf(iso) {
    var date = iso ? new Date(iso) : new Date();
    if (isNaN(date.getTime())) return "";
    return date.toLocaleTimeString("es-ES", { hour: "2-digit", minute: "2-digit" });
  }

  // the estimate in words; the bridge sends its own (handoff/texts.py wait_text,
  // the queued frame's wait_text) and this mirrors it for an older bridge
  function waitText(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 60) return "menos de un minuto";
    var minutes = Math.round(seconds / 60);
    if (minutes < 60) return minutes === 1 ? "un minuto" : "unos " + minutes + " minutos";
    var hours = Math.floor(minutes / 60);
    var rest = minutes % 60;
    if (hours >= 24) return Math.floor(hours / 24) === 1 ? "más de un día" : "más de " + Math.floor(hours / 24) + " días";
    return (hours === 1 ? "una hora" : "unas " + hours + " horas") +
      (rest ? (rest === 1 ? " y 1 minuto" : " y " + rest + " minutos") : "");
  }

  var CSS = [
    ":host{all:initial}",
    "*{box-sizing:border-box}",
    ".root{--brand:#0f5c63;--brand-dark:#0a4248;--accent:#f2a65a;--bg:#f6f7f9;--ink:#1c2630;--muted:#5b6772;",
    "font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Ubuntu,sans-serif;color:var(--ink)}",
    ".launcher{position:fixed;right:24px;bottom:24px;z-index:2147483000;display:flex;align-items:center;gap:8px;",
    "border:0;border-radius:999px;padding:14px 20px;background:var(--brand);color:#fff;font:600 15px/1 inherit;",
    "font-family:inherit;box-shadow:0 8px 24px rgba(10,66,72,.35);cursor:pointer}",
    ".launcher:hover{background:var(--brand-dark)}",
    ".launcher svg{width:22px;height:22px;fill:currentColor}",
    ".badge{min-width:20px;height:20px;border-radius:10px;background:var(--accent);color:#1c2630;font-size:12px;",
    "display:inline-flex;align-items:center;justify-content:center;padding:0 6px}",
    ".panel{position:fixed;right:24px;bottom:24px;z-index:2147483001;width:380px;max-width:calc(100vw - 32px);",
    "height:600px;max-height:calc(100vh - 48px);display:flex;flex-direction:column;background:#fff;",
    "border-radius:16px;box-shadow:0 18px 48px rgba(20,30,40,.28);overflow:hidden}",
    ".panel[hidden],.launcher[hidden],[hidden]{display:none!important}",
    ".head{background:var(--brand);color:#fff;padding:14px 16px;display:flex;align-items:center;gap:12px}",
    ".avatar{width:38px;height:38px;border-radius:50%;background:var(--accent);color:var(--brand-dark);",
    "display:flex;align-items:center;justify-content:center;font-weight:700;flex:none}",
    ".head h2{margin:0;font-size:16px;font-weight:650}",
    ".head p{margin:2px 0 0;font-size:13px;opacity:.9}",
    ".head .titles{flex:1;min-width:0}",
    ".icon-btn{border:0;background:transparent;color:#fff;width:36px;height:36px;border-radius:8px;cursor:pointer;",
    "font-size:22px;line-height:1;font-family:inherit}",
    ".icon-btn:hover{background:rgba(255,255,255,.15)}",
    "button:focus-visible,input:focus-visible,textarea:focus-visible,[tabindex]:focus-visible{outline:3px solid var(--accent);outline-offset:2px}",
    ".conn{background:#fff4e0;color:#7a4a00;font-size:13px;padding:6px 16px;border-bottom:1px solid #f3dfb8}",
    ".status{background:#eef6f6;border-bottom:1px solid #d5e7e8;padding:10px 16px;font-size:14px}",
    ".status strong{color:var(--brand-dark)}",
    ".status .sub{color:var(--muted);font-size:13px;margin-top:2px}",
    ".contact{margin-top:8px;display:flex;gap:6px;flex-wrap:wrap}",
    ".contact label{width:100%;font-size:13px;color:var(--muted)}",
    ".contact input{flex:1;min-width:0;padding:8px 10px;border:1px solid #b9c4cc;border-radius:8px;font:inherit}",
    ".leave{margin-top:8px;display:flex;align-items:center;gap:6px 10px;flex-wrap:wrap;font-size:13px;color:var(--muted)}",
    ".leave span{flex:1 1 180px}",
    ".btn.secondary{background:#fff;color:var(--brand);border:1px solid var(--brand);min-height:36px}",
    ".btn.secondary:hover:not(:disabled){background:var(--brand);color:#fff}",
    ".btn:disabled{opacity:.6;cursor:default}",
    ".money{white-space:nowrap}",
    ".log{flex:1;overflow-y:auto;padding:16px;background:var(--bg);display:flex;flex-direction:column;gap:10px}",
    ".intro{color:var(--muted);font-size:14px;background:#fff;border-radius:12px;padding:12px 14px;border:1px solid #e3e7eb}",
    ".intro strong{color:var(--ink)}",
    ".msg{display:flex;flex-direction:column;max-width:85%}",
    ".msg .who{font-size:12px;color:var(--muted);margin:0 4px 2px}",
    ".bubble{padding:9px 12px;border-radius:14px;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-word}",
    ".msg.bot .bubble,.msg.agent .bubble{background:#fff;border:1px solid #e1e6ea;border-top-left-radius:4px}",
    ".msg.agent .bubble{border-color:#bcdcdf;background:#f1fafa}",
    ".msg.customer{align-self:flex-end;align-items:flex-end}",
    ".msg.customer .bubble{background:var(--brand);color:#fff;border-top-right-radius:4px}",
    ".msg .meta{font-size:11px;color:var(--muted);margin:2px 4px 0}",
    ".msg.pending .bubble{opacity:.7}",
    ".msg.refused .bubble{background:#fdeeee;color:var(--ink);border:1px solid #f3c4c4}",
    ".msg.refused .clamp{display:-webkit-box;-webkit-box-orient:vertical;-webkit-line-clamp:6;overflow:hidden}",
    ".msg.refused .meta{color:#8a1c1c;font-weight:600}",
    ".refusal{margin-top:6px;background:#fff;border:1px solid #f3c4c4;border-radius:12px;padding:8px 10px;",
    "font-size:13px;color:#8a1c1c;max-width:100%}",
    ".refusal p{margin:0}",
    ".refusal .chips{justify-content:flex-end}",
    ".refusal .chip{font-size:13px;padding:5px 12px}",
    ".notice{align-self:center;text-align:center;font-size:13px;color:var(--muted);background:#fff;",
    "border:1px solid #e3e7eb;border-radius:999px;padding:5px 12px;max-width:95%}",
    ".notice.system{border-radius:12px;white-space:pre-wrap}",
    ".notice.system .chips{justify-content:center}",
    ".notice.error{color:#8a1c1c;background:#fdeeee;border-color:#f3c4c4}",
    ".notice.joined{color:var(--brand-dark);border-color:#bcdcdf;background:#eef6f6;font-weight:600}",
    ".chips{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px}",
    ".chip{border:1px solid var(--brand);color:var(--brand);background:#fff;border-radius:999px;padding:6px 12px;",
    "font:inherit;font-size:14px;cursor:pointer}",
    ".chip:hover:not(:disabled){background:var(--brand);color:#fff}",
    ".chip:disabled{opacity:.5;cursor:default}",
    ".bubble a,.notice a{color:var(--brand-dark);text-decoration:underline;overflow-wrap:anywhere}",
    ".bubble a:focus-visible,.notice a:focus-visible{outline:3px solid var(--accent);outline-offset:1px}",
    ".typing{font-size:13px;color:var(--muted);padding:4px 16px;background:var(--bg);min-height:0}",
    ".csat,.nps-card{align-self:stretch;background:#fff;border:1px solid #e1e6ea;border-radius:12px;padding:12px}",
    ".csat p,.nps-card p{margin:0 0 8px}",
    ".csat p.done,.nps-card p.done{margin:10px 0 0;font-weight:600;color:var(--brand-dark)}",
    ".csat p.done:first-child,.nps-card p.done:first-child{margin:0}",
    ".scores{display:flex;gap:6px}",
    ".scores.nps{flex-wrap:wrap;gap:4px}",
    ".score{flex:1;border:1px solid #b9c4cc;background:#fff;border-radius:10px;padding:8px 0;font:600 16px/1 inherit;",
    "font-family:inherit;cursor:pointer;color:var(--ink)}",
    ".score:hover:not(:disabled),.score[aria-pressed=true]{background:var(--accent);border-color:var(--accent)}",
    ".score:disabled{cursor:default}",
    ".scale{display:flex;justify-content:space-between;font-size:12px;color:var(--muted);margin-top:4px}",
    ".csat textarea{width:100%;margin-top:8px;border:1px solid #b9c4cc;border-radius:8px;padding:6px 8px;font:inherit;font-size:14px;resize:vertical}",
    ".composer{display:flex;align-items:flex-end;gap:8px;padding:10px 12px;border-top:1px solid #e3e7eb;background:#fff}",
    ".composer textarea{flex:1;resize:none;border:1px solid #b9c4cc;border-radius:10px;padding:9px 10px;font:inherit;",
    "max-height:120px;min-height:40px}",
    ".send,.btn{border:0;border-radius:10px;background:var(--brand);color:#fff;font:600 14px/1 inherit;",
    "font-family:inherit;padding:0 14px;min-height:40px;cursor:pointer}",
    ".send:hover,.btn:hover{background:var(--brand-dark)}",
    ".attach{border:1px solid #b9c4cc;border-radius:10px;background:#fff;font:18px/1 inherit;min-width:40px;",
    "min-height:40px;cursor:pointer;color:var(--brand-dark);display:flex;align-items:center;justify-content:center}",
    ".attach svg{width:22px;height:22px}.attach:hover{background:#f1f4f6}",
    ".send.blocked,.send.blocked:hover{background:#9aa5ad;cursor:not-allowed}",
    ".count{background:#fff;color:var(--muted);font-size:12px;text-align:right;padding:0 12px 4px;margin-top:-4px}",
    ".count.over{color:#8a1c1c;font-weight:600}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
    ".foot{font-size:11px;color:var(--muted);text-align:center;padding:0 0 8px;background:#fff}",
    // a phone: the chat takes the whole screen (dvh: the visible height, without the browser's bars)
    "@media (max-width:480px){.panel{top:0;right:0;bottom:0;left:0;width:100%;max-width:none;height:100%;",
    "height:100dvh;max-height:none;border-radius:0;box-shadow:none;padding-bottom:env(safe-area-inset-bottom)}",
    ".launcher{right:16px;bottom:16px}",
    ".icon-btn{width:44px;height:44px}.composer textarea{font-size:16px}.send{min-height:44px}.chip{padding:8px 14px}",
    ".leave span{display:none}.leave{justify-content:flex-end}}",
    // keyboard hints mean nothing on a touch screen
    "@media (hover:none) and (pointer:coarse){.foot{display:none}}"
  ].join("\n");

  // -- state --
  var state = {
    sessionId: load("session", null),
    outbox: loadOutbox(),                // [{client_id, frame, text, refused?: {code, detail}}]
    handoff: load("handoff", null),      // last handoff frame seen (dedupes notices)
    notices: loadNotices(),              // handoff notices shown: [{key, after, text, kind}] (kept over a reload)
    contactGiven: load("contact", null),
    open: load("open", false),
    ws: null,
    started: false,
    attempts: 0,
    retryTimer: null,
    maxId: 0,
    byId: {},                            // message id -> element
    byClient: {},                        // client_id -> element
    unread: 0,
    lastTypingSent: 0,
    typingTimer: null,
    csatCard: null,
    npsCard: null,
    pendingNps: null,
    pendingCsat: null,
    csatSent: false,
    csatGiven: loadCsatGiven(),          // a rating sent, not yet confirmed by the server (kept over a reload)
    leaving: false,                      // "Volver al asistente" pressed, the bridge has not answered yet
    resumePrev: null,
    countTimer: null,
    countSpoken: "",
    identity: null,                      // the shop's signed identity (TiendaChat.identify), sent in start
    identified: load("identity", null),  // the e-mail last identified in this browser
    freshSession: false                  // start without the stored session (another shopper signed in)
  };

  // -- UI --
  var host = el("div", { id: "tienda-aurora-chat" });
  var shadow = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  var style = document.createElement("style");
  style.textContent = CSS;

  var badge = el("span", { className: "badge", hidden: true, "aria-hidden": "true" });
  var launcher = el("button", {
    // its name starts with the words it shows ("¿Te ayudamos?"): voice control users say what they see
    className: "launcher", type: "button", "aria-label": t("launcher") + " Abrir el chat de ayuda",
    "aria-expanded": "false", "aria-controls": "ta-panel"
  });
  launcher.appendChild(svgChat());
  launcher.appendChild(el("span", { text: t("launcher") }));
  launcher.appendChild(badge);

  var subtitle = el("p", { id: "ta-sub", text: t("subtitleBot") });
  var closeBtn = el("button", { className: "icon-btn", type: "button", "aria-label": "Cerrar el chat", text: "×" });
  var conn = el("div", { className: "conn", role: "status", hidden: true });
  var statusBox = el("div", { className: "status", hidden: true, role: "status", "aria-live": "polite" });
  var statusMain = el("div");
  var statusSub = el("div", { className: "sub" });
  statusBox.appendChild(statusMain);
  statusBox.appendChild(statusSub);
  var contactBox = buildContact();
  statusBox.appendChild(contactBox);
  // queued (not yet claimed): the shopper may stop waiting; the bridge decides (docs/protocol.md)
  var leaveHint = el("span", { text: t("leaveQueueHint") });
  var leaveBtn = el("button", { className: "btn secondary", type: "button", text: t("leaveQueue"),
    onclick: function () { leaveQueue(); } });
  var leaveBox = el("div", { className: "leave", hidden: true }, [leaveHint, leaveBtn]);
  statusBox.appendChild(leaveBox);

  var intro = el("div", { className: "intro" }, [
    el("strong", { text: "¡Hola! Soy el asistente virtual de Tienda Aurora." }),
    el("div", { text: t("introBody") })
  ]);
  var introChips = el("div", { className: "chips" });
  ["¿Dónde está mi pedido?", "Quiero hacer una devolución", "Hablar con una persona"].forEach(function (title) {
    introChips.appendChild(el("button", { className: "chip", type: "button", text: title,
      onclick: function () { sendMessage(title, null); } }));
  });
  intro.appendChild(introChips);

  var log = el("div", {
    className: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
    "aria-label": "Mensajes de la conversación", tabindex: "0", id: "ta-log"
  }, [intro]);
  var typing = el("div", { className: "typing", role: "status", "aria-live": "polite" });
  var input = el("textarea", {
    id: "ta-input", rows: "1", placeholder: t("placeholder"), "aria-label": t("placeholder").replace("…", ""),
    maxlength: String(MAX_CHARS), autocomplete: "off", "aria-describedby": "ta-count", enterkeyhint: "send"
  });
  var sendBtn = el("button", { className: "send", type: "submit", text: "Enviar" });
  var fileInput = el("input", { type: "file", className: "sr", tabindex: "-1", "aria-hidden": "true",
    accept: FILE_TYPES.join(","), multiple: "multiple" });
  var attachBtn = el("button", { className: "attach", type: "button", "aria-label": t("attach"), title: t("attach"),
    onclick: function () { fileInput.click(); } });
  attachBtn.appendChild(svgClip());
  var composer = el("form", { className: "composer", "aria-label": "Enviar un mensaje" },
    [attachBtn, fileInput, input, sendBtn]);
  // what is left, shown near the limit; screen readers get it from a polite
  // live region once typing pauses (not on every key) and as the field's description
  var counter = el("div", { className: "count", id: "ta-count", hidden: true, "aria-hidden": "true" });
  var countLive = el("div", { className: "sr", id: "ta-count-live", role: "status", "aria-live": "polite" });
  var announcer = el("div", { className: "sr", role: "status", "aria-live": "polite" });

  var panel = el("div", {
    className: "panel", id: "ta-panel", role: "dialog", "aria-modal": "false",
    "aria-labelledby": "ta-title", "aria-describedby": "ta-sub", hidden: true
  }, [
    el("div", { className: "head" }, [
      el("div", { className: "avatar", "aria-hidden": "true", text: "A" }),
      el("div", { className: "titles" }, [el("h2", { id: "ta-title", text: "Ayuda · Tienda Aurora" }), subtitle]),
      closeBtn
    ]),
    conn, statusBox, log, typing, composer, counter, countLive, announcer,
    el("div", { className: "foot", text: t("footKeys") })
  ]);

  var root = el("div", { className: "root" }, [launcher, panel]);
  shadow.appendChild(style);
  shadow.appendChild(root);

  // an icon drawn from one path (not an emoji: not every system has an emoji font)
  function svgIcon(d, stroked) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", d);
    if (stroked) {
      path.setAttribute("fill", "none");
      path.setAttribute("stroke", "currentColor");
      path.setAttribute("stroke-width", "1.8");
      path.setAttribute("stroke-linecap", "round");
    }
    svg.appendChild(path);
    return svg;
  }
  function svgChat() {
    return svgIcon("M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6v2h2V9H7zm4 0v2h2V9h-2zm4 0v2h2V9h-2z", false);
  }
  function svgClip() {
    return svgIcon("M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5", true);
  }

  function buildContact() {
    var box = el("form", { className: "contact", hidden: true, "aria-label": "Dejar un correo de contacto" });
    var emailInput = el("input", { type: "email", id: "ta-email", required: true, autocomplete: "email",
      placeholder: "nombre@correo.es", maxlength: "254" });
    box.appendChild(el("label", { "for": "ta-email", text: t("contactLabel") }));
    box.appendChild(emailInput);
    box.appendChild(el("button", { className: "btn", type: "submit", text: t("contactButton") }));
    box.addEventListener("submit", function (event) {
      event.preventDefault();
      var email = emailInput.value.trim();
      if (!emailInput.checkValidity() || !email) { emailInput.reportValidity(); return; }
      var clientId = newId();
      state.contactGiven = email;
      save("contact", email);
      queueFrame({ client_id: clientId, frame: { type: "contact", email: email, client_id: clientId } });
      renderStatus();
    });
    return box;
  }

  // -- open / close / focus --
  function openPanel(focus) {
    panel.hidden = false;
    launcher.hidden = true;
    launcher.setAttribute("aria-expanded", "true");
    state.open = true;
    save("open", true);
    state.unread = 0;
    renderBadge();
    ensureConnected();
    scrollDown();
    if (focus !== false) input.focus();
  }
  function closePanel() {
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute("aria-expanded", "false");
    state.open = false;
    save("open", false);
    launcher.focus();
  }
  launcher.addEventListener("click", function () { openPanel(true); });
  closeBtn.addEventListener("click", closePanel);
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { event.preventDefault(); closePanel(); }
  });

  function renderBadge() {
    badge.hidden = state.unread === 0;
    badge.textContent = String(state.unread);
    launcher.setAttribute("aria-label", state.unread
      ? t("launcher") + " Abrir el chat de ayuda (" + state.unread + " mensajes nuevos)" : t("launcher") + " Abrir el chat de ayuda");
  }

  function scrollDown() { log.scrollTop = log.scrollHeight; }

  // -- rendering --
  function senderLabel(frame) {
    if (frame.sender === "customer") return t("you");
    if (frame.sender === "agent") return (frame.agent_name || "Equipo de atención") + " · equipo de Tienda Aurora";
    return "Asistente virtual";
  }

  function trackId(id, node) {
    var n = parseInt(id, 10);
    if (!isNaN(n) && n > state.maxId) state.maxId = n;
    state.byId[String(id)] = node;
  }

  // refused messages stay last, next to the composer, until edited or
  // discarded (as after a reload, when the outbox is shown after the history)
  function appendLog(node) {
    var refused = node.classList.contains("refused") ? null : log.querySelector(".msg.refused");
    log.insertBefore(node, refused);
  }

  function addNotice(text, kind) {
    var node = el("div", { className: "notice" + (kind ? " " + kind : ""), text: text });
    if (kind === "error") node.setAttribute("role", "alert");
    appendLog(node);
    scrollDown();
    return node;
  }

  // -- links: http(s) URLs in a message become <a>, built with DOM APIs only
  // (text nodes + href); anything else (javascript:, data:, HTML) stays text --
  var URL_RE = /\bhttps?:\/\/[^\s<>"']+/gi;
  var TRAILING = /[.,;:!?)\]}»"']+$/;
  function safeHref(raw) {
    try {
      var url = new URL(raw);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (e) { return null; }
  }
  // a long URL breaks at its joints (a <wbr> after "/", "=", "&", "?", "-", "_",
  // before "."), never mid-word; a part longer than the line still breaks
  function withJoints(parent, text) {
    var piece = "";
    function cut() {
      if (piece) { parent.appendChild(document.createTextNode(piece)); parent.appendChild(document.createElement("wbr")); }
      piece = "";
    }
    for (var i = 0; i < text.length; i++) {
      var ch = text.charAt(i);
      if (ch === ".") cut();
      piece += ch;
      if ("/=&?-_".indexOf(ch) >= 0 && text.charAt(i + 1) !== "/") cut();   // "https://" stays whole
    }
    if (piece) parent.appendChild(document.createTextNode(piece));
    return parent;
  }
  function linkified(text) {
    var out = document.createDocumentFragment();
    var last = 0;
    text.replace(URL_RE, function (match, offset) {
      var url = match.replace(TRAILING, "");
      var href = url ? safeHref(url) : null;
      if (!href) return match;
      if (offset > last) out.appendChild(document.createTextNode(text.slice(last, offset)));
      var a = document.createElement("a");
      a.href = href;
      withJoints(a, url);
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      out.appendChild(a);
      last = offset + url.length;
      return match;
    });
    if (last < text.length) out.appendChild(document.createTextNode(text.slice(last)));
    return out;
  }
  // "69,00 €" never splits across lines: the space before (or after) the
  // currency becomes a no-break space, whoever wrote the text
  var AMOUNT_RE = /(\d)[ \u202F](€|EUR\b|euros?\b|\$|USD\b)|(€|\$)[ \u202F](\d)/g;
  function keepAmounts(text) {
    return text.replace(AMOUNT_RE, function (m, d, cur, cur2, d2) {
      return cur ? d + "\u00A0" + cur : cur2 + "\u00A0" + d2;
    });
  }
  function textNode(tag, className, text) {
    var node = el(tag, { className: className });
    node.appendChild(linkified(keepAmounts(String(text || ""))));
    return node;
  }

  // -- buttons of a step: live only on the latest message with buttons while
  // the shopper has not written or pressed since (the bridge keeps the same
  // rule, Bridge.button_live, and refuses a press it would not accept) --
  var STEP_OVER_LABEL = "Opciones (este paso ya ha terminado)";
  var DELIVERED = " · Enviado ✓";
  function retireChips(group) {
    var groups = group ? [group] : Array.prototype.slice.call(log.querySelectorAll(".chips[data-step]"));
    groups.forEach(function (chips) {
      if (chips.getAttribute("data-step") === "done") return;
      chips.setAttribute("data-step", "done");
      chips.setAttribute("aria-label", STEP_OVER_LABEL);
      Array.prototype.forEach.call(chips.querySelectorAll("button"), function (b) {
        b.disabled = true;
        b.setAttribute("aria-disabled", "true");
      });
    });
  }

  // -- handoff notices: rendered from the state frames and kept (localStorage)
  // with the id of the last message before them, so a reload shows them in
  // place again, once --
  // eventId: the bridge's id of the state change (its place among the messages)
  function addHandoffNotice(text, kind, eventId) {
    var at = eventId ? parseInt(eventId, 10) : NaN;
    var notice = { key: isNaN(at) ? "n" + Date.now().toString(36) + Math.random().toString(36).slice(2, 6) : "e" + at,
      after: isNaN(at) ? state.maxId : at, text: text, kind: kind || "" };
    state.notices.push(notice);
    state.notices = state.notices.slice(-MAX_NOTICES);
    save("notices", state.notices);
    var node = addNotice(text, kind);
    node.setAttribute("data-notice", notice.key);
    // in its place among the messages, as after a reload (placeNotices): a
    // line stored after the state change but shown before its frame stays below
    var next = isNaN(at) ? null : firstAfter(at);
    if (next) log.insertBefore(node, next);
    return node;
  }
  // the first message shown whose id is above ``at`` (null: none)
  function firstAfter(at) {
    var next = null;
    Array.prototype.some.call(log.querySelectorAll("[data-id]"), function (m) {
      if (m.parentNode === log && parseInt(m.getAttribute("data-id"), 10) > at) { next = m; return true; }
      return false;
    });
    return next;
  }
  function hasNotice(eventId) {
    return !!eventId && state.notices.some(function (n) { return n.key === "e" + parseInt(eventId, 10); });
  }
  // the history's events (the bridge stores each state change among the
  // messages): the notices of a fresh page, in their real place; notices this
  // page already shows are kept, older local ones (no event id) give way
  function useEvents(events) {
    state.notices = state.notices.filter(function (n) {
      return n.key.charAt(0) === "e" || log.querySelector('[data-notice="' + n.key + '"]');
    });
    events.forEach(function (e) {
      var at = parseInt(e.id, 10);
      if (isNaN(at) || !e.text || hasNotice(e.id)) return;
      state.notices.push({ key: "e" + at, after: at, text: String(e.text), kind: e.state === "assigned" ? "joined" : "" });
    });
    state.notices.sort(function (a, b) { return a.after - b.after; });
    state.notices = state.notices.slice(-MAX_NOTICES);
    save("notices", state.notices);
  }
  function placeNotices() {
    state.notices.forEach(function (notice) {
      if (log.querySelector('[data-notice="' + notice.key + '"]')) return;
      var node = el("div", { className: "notice" + (notice.kind ? " " + notice.kind : ""), text: notice.text,
        "data-notice": notice.key });
      var next = firstAfter(notice.after);
      if (next) log.insertBefore(node, next);
      else appendLog(node);
    });
  }

  function renderMessage(frame, live) {
    var id = frame.id !== undefined && frame.id !== null ? String(frame.id) : null;
    if (id && state.byId[id]) return;          // already shown (history replay, resend)
    if (introChips.parentNode) introChips.parentNode.removeChild(introChips);
    var node;
    // the bridge's thanks for a rating or an NPS answer: on the answered card, the one thank-you
    if (frame.sender === "system" && typeof frame.csat_score === "number") {
      return thankOn(renderCsatGiven(frame.csat_score, id), frame.text, id);
    }
    if (frame.sender === "system" && typeof frame.nps_score === "number") {
      return thankOn(renderNpsGiven(frame.nps_score), frame.text, id);
    }
    if (frame.sender === "system") {
      node = textNode("div", "notice system", frame.text);
    } else {
      var sender = frame.sender === "customer" || frame.sender === "agent" ? frame.sender : "bot";
      node = el("div", { className: "msg " + sender }, [
        el("div", { className: "who", text: senderLabel(frame) }),
        sender === "customer" ? el("div", { className: "bubble", text: frame.text || "" })
          : textNode("div", "bubble", frame.text),
        // a customer message the server sends (history, another tab) is stored: delivered
        el("div", { className: "meta", text: timeOf(frame.at) + (sender === "customer" && id ? DELIVERED : "") })
      ]);
    }
    var buttons = Array.isArray(frame.buttons) ? frame.buttons : [];
    // a shopper's message, or newer buttons, end the step of the older buttons
    if (frame.sender === "customer" || buttons.length) retireChips(null);
    if (buttons.length) {
      var chips = el("div", { className: "chips", role: "group", "aria-label": "Opciones", "data-step": "live" });
      buttons.forEach(function (button) {
        var title = String(button.title || "");
        var payload = button.payload ? String(button.payload) : null;
        chips.appendChild(el("button", { className: "chip", type: "button", text: title, onclick: function () {
          if (chips.getAttribute("data-step") === "done") return;
          retireChips(chips);
          sendMessage(title, payload, id);
        } }));
      });
      node.appendChild(chips);
    }
    if (id) { node.setAttribute("data-id", id); trackId(id, node); }
    // an agent's message really reached this page: the agent's console says "entregado"
    if (id && frame.sender === "agent") send({ type: "received", id: id });
    appendLog(node);
    if (frame.sender === "bot" || frame.sender === "agent") hideTyping();
    if (live && !state.open && frame.sender !== "customer") { state.unread += 1; renderBadge(); }
    scrollDown();
    return node;
  }

  // the shop's order update (shipped, delayed, refunded...): stored as a
  // system message of the conversation, so a history later shows the same
  // line (same id: shown once) with the same buttons
  function renderOrderUpdate(frame) {
    var node = renderMessage({ type: "message", id: frame.id, sender: "system", text: frame.text,
                               buttons: frame.buttons, at: frame.at }, true);
    if (node) node.classList.add("order-update");
  }

  function renderLocal(item) {
    if (!item.refused && item.frame && item.frame.type === "message") retireChips(null);  // the shopper went on
    if (state.byClient[item.client_id]) {            // keep unsent messages last
      appendLog(state.byClient[item.client_id]);
      return;
    }
    var node = el("div", { className: "msg customer pending", "data-client-id": item.client_id }, [
      el("div", { className: "who", text: t("you") }),
      el("div", { className: "bubble", text: item.text }),
      el("div", { className: "meta", text: "Enviando…" })
    ]);
    state.byClient[item.client_id] = node;
    if (item.refused) renderRefused(item, false);
    appendLog(node);
    scrollDown();
  }

  // a message the server refused: not sent, the reason, and edit / discard
  function renderRefused(item, live) {
    var node = state.byClient[item.client_id];
    if (!node || node.querySelector(".refusal")) return;
    node.classList.remove("pending");
    node.classList.add("refused");
    var bubble = node.querySelector(".bubble");
    if (bubble && !bubble.querySelector(".clamp")) {
      bubble.textContent = "";                       // a long text shows its first lines only
      bubble.appendChild(el("span", { className: "clamp", text: item.text }));
    }
    var meta = node.querySelector(".meta");
    if (meta) meta.textContent = "No enviado";
    var reasonId = "ta-refused-" + item.client_id.replace(/[^A-Za-z0-9_-]/g, "");
    var box = el("div", { className: "refusal" }, [
      el("p", { id: reasonId, text: item.refused.detail || "No hemos podido enviar este mensaje." }),
      el("div", { className: "chips", role: "group", "aria-label": "Mensaje no enviado" }, [
        item.frame.type === "attachment" ? null
          : el("button", { className: "chip", type: "button", text: "Editar", "aria-describedby": reasonId,
            "aria-label": "Editar el mensaje no enviado", onclick: function () { editRefused(item); } }),
        el("button", { className: "chip", type: "button", text: "Descartar", "aria-describedby": reasonId,
          "aria-label": "Descartar el mensaje no enviado", onclick: function () { discardRefused(item); } })
      ].filter(Boolean))
    ]);
    if (live) box.setAttribute("role", "alert");
    node.appendChild(box);
    if (live) { appendLog(node); scrollDown(); }
  }

  function dropItem(item) {
    state.outbox = state.outbox.filter(function (other) { return other.client_id !== item.client_id; });
    saveOutbox();
    var node = state.byClient[item.client_id];
    delete state.byClient[item.client_id];
    if (node && node.parentNode) node.parentNode.removeChild(node);
  }

  // its text goes back to the composer, to be corrected and sent as a new message
  function editRefused(item) {
    dropItem(item);
    var draft = input.value;
    input.value = draft.trim() ? item.text + "\n" + draft : item.text;
    autosize();
    updateCount(true);
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
    announce(t("editAnnounce"));
  }

  function discardRefused(item) {
    dropItem(item);
    input.focus();
    announce("Mensaje descartado.");
  }

  function announce(text) {
    announcer.textContent = "";
    setTimeout(function () { announcer.textContent = text; }, 50);
  }

  function markDelivered(clientId, id) {
    var node = state.byClient[clientId];
    delete state.byClient[clientId];
    if (!node) return;
    if (id && state.byId[String(id)] && state.byId[String(id)] !== node) {
      node.parentNode && node.parentNode.removeChild(node);   // already shown from the history
      return;
    }
    node.classList.remove("pending", "refused");
    var refusal = node.querySelector(".refusal");
    if (refusal) node.removeChild(refusal);
    var meta = node.querySelector(".meta");
    if (meta) meta.textContent = timeOf(null) + DELIVERED;
    if (id) { node.setAttribute("data-id", String(id)); trackId(id, node); }
  }

  function showTyping(sender) {
    var name = sender === "agent" && state.handoff && state.handoff.agent_name ? state.handoff.agent_name : null;
    typing.textContent = sender === "agent" ? (name || t("typingAgent")) + " está escribiendo…"
      : "El asistente está escribiendo…";
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(hideTyping, TYPING_HIDE_MS);
  }
  function hideTyping() { clearTimeout(state.typingTimer); typing.textContent = ""; }

  function renderStatus() {
    var h = state.handoff;
    if (!h || h.state === "ended") {
      statusBox.hidden = true;
      subtitle.textContent = t("subtitleBot");
      return;
    }
    statusBox.hidden = false;
    contactBox.hidden = true;
    leaveBox.hidden = h.state !== "queued";
    leaveHint.textContent = t("leaveQueueHint");
    leaveBtn.textContent = t("leaveQueue");
    leaveBtn.disabled = !!state.leaving;
    if (h.state === "queued") {
      subtitle.textContent = "Esperando a una persona del equipo";
      statusMain.textContent = "";
      statusMain.appendChild(el("strong", { text: t("inQueue", { n: h.position || 1 }) }));
      var wait = h.wait_text || waitText(h.estimated_wait_s);
      if (h.offline) {
        // out of hours the bridge's own line in the log says so and by when, once:
        // not repeated here (a phone showed it three times)
        statusSub.textContent = "";
        if (state.contactGiven) {
          statusSub.textContent = t("writeTo", { email: state.contactGiven }).trim();
        } else if (h.contact_known) {
          // a verified shopper (or one who left an e-mail before): never asked again
          statusSub.textContent = t("emailKnown").trim();
        } else {
          contactBox.hidden = false;
        }
      } else {
        // the promise, in the bridge's words ("Te respondemos antes de las 10:30."): the same on every channel
        statusSub.textContent = (h.promise_text ? h.promise_text + " " : "") +
          (wait ? "Espera estimada: " + wait + "." : t("soon"));
      }
    } else if (h.state === "assigned") {
      var agent = h.agent_name || "Una persona del equipo";
      // the name once: in the status bar (a phone showed it in the header too)
      subtitle.textContent = t("subtitleAgent");
      statusMain.textContent = "";
      statusMain.appendChild(el("strong", { text: t("serving", { agent: agent }) }));
      statusSub.textContent = t("writeHere");
    }
  }

  function onHandoff(frame) {
    var prev = state.handoff || state.resumePrev;
    state.resumePrev = null;
    if (frame.state !== "ended") state.csatSent = false;   // a new handoff, a new rating later
    var ev = frame.event_id;
    if (hasNotice(ev)) {
      // shown already (live, or from the history's events)
    } else if (frame.state === "queued" && (!prev || prev.state !== "queued")) {
      // out of hours the promise is in the bridge's out-of-hours line: not said twice
      addHandoffNotice(t("queued") + (frame.promise_text && !frame.offline ? " " + frame.promise_text : ""), "", ev);
    } else if (frame.state === "assigned" && (!prev || prev.state !== "assigned" || prev.agent_name !== frame.agent_name)) {
      addHandoffNotice((frame.agent_name || "Una persona del equipo") + " se ha unido a la conversación", "joined", ev);
    } else if (frame.state === "ended" && (frame.outcome === "withdrawn" || frame.outcome === "abandoned")) {
      // left the queue (withdrawn, abandoned): the bridge's own line that follows says it, once
    } else if (frame.state === "ended" && prev && prev.state !== "ended") {
      addHandoffNotice("La conversación con " + (frame.agent_name || prev.agent_name || "el equipo") + " ha terminado.", "", ev);
    }
    state.leaving = false;
    state.handoff = { state: frame.state, position: frame.position, estimated_wait_s: frame.estimated_wait_s,
      offline: !!frame.offline, contact_known: !!frame.contact_known,
      respond_by: frame.respond_by || null, promise_text: frame.promise_text || "",
      agent_name: frame.agent_name || (prev && prev.agent_name) || "" };
    save("handoff", state.handoff);
    renderStatus();
    scrollDown();                         // the status box took room from the log: keep the latest in view
  }

  // "Volver al asistente": a message with the bridge's own payload, through the
  // outbox like any other (acknowledged, sent again after a drop, stored once)
  function leaveQueue() {
    state.leaving = true;
    leaveBtn.disabled = true;
    sendMessage(t("leaveQueue"), "/leave_queue");
  }

  // the bridge's thanks (a system message with csat_score / nps_score) joins the
  // card's "Has valorado…" line: one thank-you, live and after a reload
  function thankOn(card, text, id) {
    var lines = card.querySelectorAll("p.done");
    var done = lines.length ? lines[lines.length - 1] : card.appendChild(el("p", { className: "done" }));
    var thanks = String(text || "");
    if (thanks && done.textContent.indexOf(thanks) < 0) done.textContent = done.textContent.trim() + " " + thanks;
    if (id) { if (!card.getAttribute("data-id")) card.setAttribute("data-id", id); trackId(id, card); }
    scrollDown();
    return card;
  }

  // a rating the server confirmed (the thanks message carries its score): shown
  // as given, also from the history after a reload, never asked again; the card
  function renderCsatGiven(score, id) {
    if (state.csatGiven && parseInt(id, 10) > state.csatGiven.after) {   // ours is confirmed
      state.csatGiven = null;
      save("csat", null);
    }
    var card = state.csatCard;
    if (card && card.parentNode && card.getAttribute("data-done") && !card.getAttribute("data-confirmed")) {
      card.setAttribute("data-confirmed", "1");           // the card just answered says it already
      return card;
    }
    card = el("div", { className: "csat", "data-done": "1", "data-confirmed": "1" }, [
      el("p", { className: "done", text: t("csatDone", { score: score }) })]);
    appendLog(card);
    return card;
  }

  // an NPS answer the server confirmed: the card just answered, or (from the
  // history after a reload) one that shows the answer given
  function renderNpsGiven(score) {
    var card = state.npsCard;
    if (card && card.parentNode && card.getAttribute("data-done") && !card.getAttribute("data-confirmed")) {
      card.setAttribute("data-confirmed", "1");
      return card;
    }
    card = el("div", { className: "nps-card", "data-done": "1", "data-confirmed": "1" }, [
      el("p", { className: "done", text: t("npsDone", { score: score }) })]);
    appendLog(card);
    return card;
  }

  function showCsat(frame) {
    if (state.csatSent) return;           // ours is on its way (a resend crossed it)
    if (state.csatCard && state.csatCard.parentNode && !state.csatCard.getAttribute("data-done")) return;
    var last = state.handoff || state.resumePrev;        // after a reload: the handoff that just ended
    var agent = (frame && frame.agent_name) || (last && last.agent_name);
    var given = state.csatGiven;
    if (given && (!frame || !frame.agent_name || given.agent === frame.agent_name)) {
      // answered before a reload, not stored yet: sent again, not asked again
      var done = el("div", { className: "csat", id: "ta-csat", "data-done": "1" }, [
        el("p", { className: "done", text: t("csatDone", { score: given.frame.score }) })]);
      state.csatCard = done;
      appendLog(done);
      scrollDown();
      sendCsat(given.frame, given.agent);
      return;
    }
    var comment = el("textarea", { rows: "2", maxlength: "1000", "aria-label": "Comentario (opcional)",
      placeholder: "Comentario (opcional)" });
    var scores = el("div", { className: "scores", role: "group", "aria-label": "Valoración del 1 al 5" });
    var card = el("div", { className: "csat", id: "ta-csat" }, [
      // the question comes from the bridge (handoff/texts.py), the same words as on Telegram
      el("p", { text: (frame && frame.text) || "" }),
      scores,
      el("div", { className: "scale", "aria-hidden": "true" }, [el("span", { text: "Muy mal" }), el("span", { text: "Muy bien" })]),
      comment
    ]);
    [1, 2, 3, 4, 5].forEach(function (score) {
      scores.appendChild(el("button", { className: "score", type: "button", text: String(score),
        "aria-label": score + " de 5", "aria-pressed": "false", onclick: function (event) {
          Array.prototype.forEach.call(scores.querySelectorAll("button"), function (b) { b.disabled = true; });
          event.currentTarget.setAttribute("aria-pressed", "true");
          card.setAttribute("data-done", "1");
          if (comment.value.trim()) comment.disabled = true;
          else card.removeChild(comment);
          var frame = { type: "csat", score: score };
          if (comment.value.trim()) frame.comment = comment.value.trim();
          card.appendChild(el("p", { className: "done", text: t("csatDone", { score: score }) }));
          sendCsat(frame, agent || "");
        } }));
    });
    state.csatCard = card;
    appendLog(card);
    scrollDown();
  }

  // The NPS question (0-10) some customers get after their rating
  // (nps_request, docs/protocol.md); asked once per card, answered by a button.
  function showNps(frame) {
    if (state.npsCard && state.npsCard.parentNode) return;
    var scores = el("div", { className: "scores nps", role: "group", "aria-label": "Del 0 al 10" });
    var card = el("div", { className: "nps-card", id: "ta-nps" }, [
      el("p", { text: (frame && frame.text) || "" }),
      scores,
      el("div", { className: "scale", "aria-hidden": "true" }, [
        el("span", { text: (frame && frame.low) || "0" }), el("span", { text: (frame && frame.high) || "10" })])
    ]);
    for (var n = 0; n <= 10; n++) {
      (function (score) {
        scores.appendChild(el("button", { className: "score", type: "button", text: String(score),
          "aria-label": score + " de 10", "aria-pressed": "false", onclick: function (event) {
            Array.prototype.forEach.call(scores.querySelectorAll("button"), function (b) { b.disabled = true; });
            event.currentTarget.setAttribute("aria-pressed", "true");
            card.setAttribute("data-done", "1");
            card.appendChild(el("p", { className: "done", text: t("npsDone", { score: score }) }));
            var answer = { type: "nps", score: score };
            if (!send(answer)) { state.pendingNps = answer; ensureConnected(); }
          } }));
      })(n);
    }
    state.npsCard = card;
    appendLog(card);
    scrollDown();
  }

  // -- network --
  function send(frame) {
    if (!state.ws || state.ws.readyState !== 1 || !state.started) return false;
    try { state.ws.send(JSON.stringify(frame)); return true; } catch (e) { return false; }
  }

  // send an outbox entry unless it was refused; false if it could not go now
  function sendItem(item) {
    if (item.refused) return true;
    if (item.text && item.text.length > MAX_WIRE_CHARS) {
      // so big the socket itself would be closed (no error frame, no ack): refuse it here
      refuse(item, { code: "message_too_long", detail: TOO_LONG }, true);
      return true;
    }
    if (!send(item.frame)) return false;
    item.sentAt = Date.now();
    return true;
  }

  function queueFrame(item) {
    state.outbox.push(item);
    saveOutbox();
    if (!sendItem(item)) ensureConnected();
  }

  // replyTo: the id of the message whose button this is (the bridge checks its step)
  function sendMessage(text, payload, replyTo) {
    text = String(text || "").trim();
    if (!text) return;
    var clientId = newId();
    var frame = { type: "message", text: text, client_id: clientId };
    if (payload) frame.payload = payload;
    if (payload && replyTo) frame.reply_to = String(replyTo);
    var item = { client_id: clientId, frame: frame, text: text };
    renderLocal(item);
    queueFrame(item);
  }

  // a photo is shrunk in the browser (longest side PHOTO_SIDES[i], JPEG) until
  // it fits FILE_MAX_BYTES; a PDF goes as it is, if it fits
  function shrinkPhoto(file, done, fail) {
    var url = URL.createObjectURL(file);
    var img = new Image();
    img.onload = function () {
      URL.revokeObjectURL(url);
      var attempt = function (i) {
        var side = PHOTO_SIDES[i];
        var scale = Math.min(1, side / Math.max(img.naturalWidth, img.naturalHeight));
        var canvas = document.createElement("canvas");
        canvas.width = Math.max(1, Math.round(img.naturalWidth * scale));
        canvas.height = Math.max(1, Math.round(img.naturalHeight * scale));
        canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
        var data = canvas.toDataURL("image/jpeg", 0.8).split(",")[1] || "";
        if (data.length * 3 / 4 <= FILE_MAX_BYTES || i === PHOTO_SIDES.length - 1) done(data, "image/jpeg");
        else attempt(i + 1);
      };
      attempt(0);
    };
    img.onerror = function () { URL.revokeObjectURL(url); fail(t("fileUnreadable")); };
    img.src = url;
  }

  function readFile(file, done, fail) {
    if (file.size > FILE_MAX_BYTES) { fail(t("fileTooBig", { kb: Math.round(FILE_MAX_BYTES / 1024) })); return; }
    var reader = new FileReader();
    reader.onload = function () { done(String(reader.result).split(",")[1] || "", file.type); };
    reader.onerror = function () { fail(t("fileUnreadable")); };
    reader.readAsDataURL(file);
  }

  function sendFile(file) {
    if (!file) return;
    var type = String(file.type || "").toLowerCase();
    if (FILE_TYPES.indexOf(type) < 0) { addNotice(t("fileType"), "error"); return; }
    var photo = type.indexOf("image/") === 0;
    var name = String(file.name || (photo ? "foto.jpg" : "documento.pdf")).slice(0, 200);
    var go = function (data, contentType) {
      var clientId = newId();
      if (photo) name = name.replace(/\.[A-Za-z0-9]+$/, "") + ".jpg";
      var frame = { type: "attachment", name: name, content_type: contentType, data: data, client_id: clientId };
      var item = { client_id: clientId, frame: frame, text: (photo ? "Foto: " : "Documento: ") + name };
      renderLocal(item);
      queueFrame(item);
    };
    var fail = function (why) { addNotice(why, "error"); };
    if (photo) shrinkPhoto(file, go, fail);
    else readFile(file, go, fail);
  }

  fileInput.addEventListener("change", function () {
    var files = Array.prototype.slice.call(fileInput.files || []);
    fileInput.value = "";
    files.slice(0, 5).forEach(sendFile);
    input.focus();
  });

  function sendCsat(frame, agent) {
    state.csatSent = true;
    state.csatGiven = { frame: frame, after: state.maxId, agent: agent || "" };
    save("csat", state.csatGiven);
    if (!send(frame)) { state.pendingCsat = frame; ensureConnected(); }
  }

  function flushOutbox() {
    state.outbox.slice().forEach(sendItem);        // in order; refused ones stay put
    if (state.pendingCsat && send(state.pendingCsat)) state.pendingCsat = null;
    if (state.pendingNps && send(state.pendingNps)) state.pendingNps = null;
  }

  function findItem(clientId) {
    for (var i = 0; i < state.outbox.length; i++) {
      if (state.outbox[i].client_id === clientId) return state.outbox[i];
    }
    return null;
  }

  // the server refused this entry as it is: never send it again
  function refuse(item, frame, live) {
    var detail = typeof frame.detail === "string" && frame.detail ? frame.detail : "";
    if (!item.text) {
      // nothing to show or edit (an e-mail for contact): drop it and say why
      dropItem(item);
      addNotice(detail || t("dataNotSent"), "error");
      if (item.frame.type === "contact") {
        state.contactGiven = null;
        save("contact", null);
        renderStatus();
      }
      return;
    }
    item.refused = { code: String(frame.code || "refused"), detail: detail };
    delete item.sentAt;
    if (item.frame.payload === "/leave_queue") { state.leaving = false; renderStatus(); }   // may be pressed again
    saveOutbox();
    if (!state.byClient[item.client_id]) renderLocal(item);
    else renderRefused(item, live);
  }

  function onError(frame) {
    if (frame.code === "no_csat_pending") { state.csatGiven = null; save("csat", null); return; }
    var item = typeof frame.client_id === "string" ? findItem(frame.client_id) : null;
    if (item && TRANSIENT[frame.code]) {
      // sent again with the same client_id by the resend timer (stored once)
      var node = state.byClient[item.client_id];
      var meta = node && node.querySelector(".meta");
      if (meta) meta.textContent = "No enviado todavía · lo reintentamos en unos segundos…";
      return;
    }
    if (item) {
      if (!item.refused) refuse(item, frame, true);
      return;
    }
    if (frame.client_id && TRANSIENT[frame.code]) return;   // that one was delivered meanwhile
    addNotice(frame.detail || t("genericError"), "error");
  }

  function onAck(frame) {
    var before = state.outbox.length;
    state.outbox = state.outbox.filter(function (item) { return item.client_id !== frame.client_id; });
    if (state.outbox.length !== before) saveOutbox();
    markDelivered(frame.client_id, frame.id);
  }

  function onSession(frame) {
    if (state.sessionId && frame.session_id !== state.sessionId && !frame.resumed) {
      // the old session is gone: start over (pending messages go to the new one)
      Array.prototype.slice.call(log.childNodes).forEach(function (n) { if (n !== intro) log.removeChild(n); });
      state.byId = {}; state.maxId = 0; state.handoff = null; state.contactGiven = null; state.notices = [];
      save("handoff", null); save("contact", null); save("notices", null);
      state.csatGiven = null; save("csat", null);
      Object.keys(state.byClient).forEach(function (k) { delete state.byClient[k]; });
      state.outbox.forEach(function (item) { if (item.text) renderLocal(item); });
      renderStatus();
    }
    if (!frame.resumed && !state.sessionId) {
      state.handoff = null; save("handoff", null);
      state.notices = []; save("notices", null);
    }
    if (frame.voice === "tu" || frame.voice === "usted") VOICE = frame.voice;   // texts rendered from now on
    if (frame.resumed) {
      // the bridge re-sends the current handoff state after the history (none: back with the bot)
      state.resumePrev = state.handoff;
      state.handoff = null;
      renderStatus();
    }
    state.sessionId = frame.session_id;
    state.freshSession = false;
    save("session", frame.session_id);
    state.started = true;
    state.attempts = 0;
    conn.hidden = true;
    flushOutbox();
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "session": onSession(frame); break;
      case "history":
        (frame.messages || []).forEach(function (m) { renderMessage(m, false); });
        if (Array.isArray(frame.events)) useEvents(frame.events);
        placeNotices();
        state.outbox.forEach(function (item) { if (item.text) renderLocal(item); });
        scrollDown();
        break;
      case "message": renderMessage(frame, true); break;
      case "order_update": renderOrderUpdate(frame); break;
      case "ack": onAck(frame); break;
      case "handoff": onHandoff(frame); break;
      case "typing": showTyping(frame.sender); break;
      case "csat_request": showCsat(frame); break;
      case "nps_request": showNps(frame); break;
      case "error": onError(frame); break;
      default: break;
    }
  }

  function ensureConnected() {
    if (state.ws && (state.ws.readyState === 0 || state.ws.readyState === 1)) return;
    if (state.retryTimer) { clearTimeout(state.retryTimer); state.retryTimer = null; }
    connect();
  }

  function connect() {
    var ws;
    try { ws = new WebSocket(WS_URL); } catch (e) { scheduleReconnect(); return; }
    state.ws = ws;
    state.started = false;
    ws.onopen = function () {
      var resume = state.sessionId && !state.freshSession;
      var start = { type: "start", session_id: resume ? state.sessionId : null, locale: "es" };
      if (resume && state.maxId > 0) start.after_id = state.maxId;
      if (state.identity) start.identity = state.identity;
      ws.send(JSON.stringify(start));
    };
    ws.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame && typeof frame.type === "string") onFrame(frame);
    };
    ws.onclose = function () {
      if (state.ws !== ws) return;
      state.ws = null;
      state.started = false;
      scheduleReconnect();
    };
    ws.onerror = function () { /* onclose follows */ };
  }

  function scheduleReconnect() {
    if (state.retryTimer) return;
    var delay = Math.min(MAX_BACKOFF_MS, 500 * Math.pow(2, state.attempts));
    delay = Math.round(delay * (0.8 + Math.random() * 0.4));
    state.attempts += 1;
    conn.hidden = false;
    conn.textContent = t("offline", { s: Math.max(1, Math.round(delay / 1000)) });
    state.retryTimer = setTimeout(function () { state.retryTimer = null; connect(); }, delay);
  }

  // not acknowledged after a while (e.g. an `unavailable` error): send again,
  // same client_id, so the bridge stores it once
  setInterval(function () {
    var now = Date.now();
    state.outbox.slice().forEach(function (item) {
      if (!item.refused && now - (item.sentAt || 0) > RESEND_AFTER_MS) sendItem(item);
    });
  }, 4000);

  window.addEventListener("online", function () {
    if (state.retryTimer) { clearTimeout(state.retryTimer); state.retryTimer = null; }
    state.attempts = 0;
    ensureConnected();
  });
  window.addEventListener("offline", function () {
    if (state.ws) { try { state.ws.close(); } catch (e) { /* ignore */ } }
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && (state.sessionId || state.open) && !state.ws && state.retryTimer) {
      clearTimeout(state.retryTimer); state.retryTimer = null; connect();
    }
  });

  // -- composer --
  composer.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    if (!text.trim()) return;
    if (codePoints(text) > MAX_CHARS) {           // only after an edit: typing stops at the limit
      updateCount(true);
      countLive.textContent = "No se ha enviado. " + counter.textContent;
      input.focus();
      return;
    }
    input.value = "";
    autosize();
    updateCount(false);
    sendMessage(text, null);
    input.focus();
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit ? composer.requestSubmit() : composer.dispatchEvent(new Event("submit", { cancelable: true }));
    }
  });
  input.addEventListener("input", function () {
    autosize();
    updateCount(false);
    var now = Date.now();
    if (state.handoff && state.handoff.state === "assigned" && now - state.lastTypingSent > TYPING_SEND_EVERY_MS) {
      state.lastTypingSent = now;
      send({ type: "typing" });
    }
  });
  function countText(left) {
    if (left > 1) return "Quedan " + left + " caracteres";
    if (left === 1) return "Queda 1 carácter";
    if (left === 0) return t("countMax", { max: MAX_CHARS });
    if (left === -1) return t("countOver1");
    return t("countOver", { n: -left });
  }

  // the counter near the limit; maxlength counts UTF-16 units, so it grows by
  // one per character outside the BMP (an emoji) to allow MAX_CHARS code points
  // (the one limit it cannot make exact: an emoji as the very last character)
  function updateCount(now) {
    var value = input.value;
    var used = codePoints(value);
    var left = MAX_CHARS - used;
    input.setAttribute("maxlength", String(MAX_CHARS + value.length - used));
    var text = left <= COUNT_FROM ? countText(left) : "";
    counter.hidden = !text;
    counter.textContent = text;
    counter.classList.toggle("over", left < 0);
    if (left < 0) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
    sendBtn.classList.toggle("blocked", left < 0);   // seen: over the limit nothing is sent
    if (left < 0) sendBtn.setAttribute("aria-disabled", "true");
    else sendBtn.removeAttribute("aria-disabled");
    clearTimeout(state.countTimer);
    var speak = function () {
      if (text === state.countSpoken) return;
      state.countSpoken = text;
      countLive.textContent = text;
    };
    if (now) speak();
    else state.countTimer = setTimeout(speak, COUNT_ANNOUNCE_MS);
  }

  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(120, input.scrollHeight + 2) + "px";
  }

  // -- boot --
  function boot() {
    document.body.appendChild(host);
    state.outbox.forEach(function (item) { if (item.text) renderLocal(item); });
    renderStatus();
    if (state.open) openPanel(false);
    else if (state.sessionId) ensureConnected();
  }
  if (document.body) boot();
  else document.addEventListener("DOMContentLoaded", boot);

  // -- the shop's signed identity (docs/protocol.md, "Signed identity") --
  // identify({email, name, ts, signature}) from the shop's page, signed by the
  // shop's server: sent in every start frame of this page; the bridge checks
  // it (a bad one is ignored, silently). Another e-mail than the last one
  // identified here starts a new conversation (never the previous shopper's);
  // identify(null) signs out: a new conversation, without identity.
  function identify(identity) {
    var next = null;
    if (identity && typeof identity.email === "string" && typeof identity.signature === "string" &&
        (typeof identity.ts === "number" || typeof identity.ts === "string")) {
      next = { email: identity.email, name: typeof identity.name === "string" ? identity.name : "",
               ts: identity.ts, signature: identity.signature };
    }
    var email = next ? next.email.toLowerCase() : null;
    if (state.identified && state.identified !== email) state.freshSession = true;
    state.identity = next;
    state.identified = email;
    save("identity", email);
    var ws = state.ws;
    if (ws && ws.readyState === 1 && (state.started || state.freshSession)) {
      // already started without it (or as someone else): start again with it
      state.ws = null;
      state.started = false;
      try { ws.close(); } catch (e) { /* onclose is ignored: state.ws moved on */ }
      connect();
    }
  }

  window.TiendaChat = {
    version: "1.0",
    open: function () { openPanel(true); },
    close: closePanel,
    identify: identify
  };
})();
