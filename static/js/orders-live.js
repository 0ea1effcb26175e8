// The orders page, live: updates over /ws/orders/ applied in place by version, a refetch of
// the list from the customer API on every (re)connect and on a version gap, reconnection with
// backoff, and Approve / Remove through the customer API. Without JavaScript the page still
// works: the cards are rendered by the server and the buttons are plain forms.
(function () {
  "use strict";

  var root = document.getElementById("orders-page");
  if (!root || !window.fetch || !window.WebSocket || !window.Map) return;

  var zone = root.dataset.timeZone || "UTC";
  var pageOrders = parseInt(root.dataset.pageOrders, 10) || 100;
  var csrf = root.dataset.csrf || "";
  var labels = JSON.parse(document.getElementById("order-labels").textContent);
  var WAITING = ["held", "needs_confirmation"];
  var ON_THE_WAY = ["releasing", "submitted", "shipped"];
  var API = "/api/v1/me/orders";
  var CLOSE_UNAUTHENTICATED = 4401;

  var orders = new Map(); // public id -> the order as the customer API gives it
  var socket = null;
  var attempt = 0;
  var reconnectTimer = null;
  var pingTimer = null;
  var refetching = false;
  var refetchAgain = false;
  var signedOut = false;

  var timeFmt = new Intl.DateTimeFormat(undefined, { timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  var dayFmt = new Intl.DateTimeFormat(undefined, { timeZone: zone, month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false });
  var stampFmt = new Intl.DateTimeFormat(undefined, { timeZone: zone, month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });

  // --- DOM helpers -----------------------------------------------------------------------

  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (attrs[key] === null || attrs[key] === undefined || attrs[key] === false) return;
      if (key === "text") node.textContent = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function sectionOf(status) {
    if (WAITING.indexOf(status) >= 0) return "waiting";
    if (ON_THE_WAY.indexOf(status) >= 0) return "on-the-way";
    return "history";
  }

  function listFor(section) {
    return root.querySelector('.order-list[data-section="' + section + '"]');
  }

  function statusLabel(status) {
    return labels.status[status] || status;
  }

  function timeEl(iso, fmt) {
    if (!iso) return el("span", { text: "just now" });
    return el("time", { datetime: iso, text: fmt.format(new Date(iso)) });
  }

  // --- Rendering (the same markup as templates/orders/_order_card.html) ---------------------

  function actionForm(order, action, text, secondary) {
    var titleId = "order-" + order.id + "-title";
    return el(
      "form",
      { method: "post", action: "/orders/" + order.id + "/" + action, "data-action": action, "data-order-id": order.id },
      el("input", { type: "hidden", name: "csrfmiddlewaretoken", value: csrf }),
      el("button", { type: "submit", class: secondary ? "secondary" : null, "aria-describedby": titleId, text: text })
    );
  }

  function renderCard(order) {
    var id = order.id;
    var titleId = "order-" + id + "-title";
    var meta = el("p", { class: "order-meta" });
    if (order.total !== null && order.total !== undefined) {
      meta.appendChild(el("span", { class: "price", text: order.total }));
      meta.appendChild(document.createTextNode(" "));
      meta.appendChild(el("span", { class: "muted", text: "(" + order.quantity + " × " + order.unit_price + ")" }));
      meta.appendChild(document.createTextNode(" · "));
    }
    meta.appendChild(document.createTextNode("from "));
    if (order.device_serial) meta.appendChild(el("span", { class: "device", text: order.device_serial }));
    else meta.appendChild(document.createTextNode((labels.source[order.source] || order.source || "a device").toLowerCase()));
    meta.appendChild(document.createTextNode(" · placed "));
    meta.appendChild(timeEl(order.created_at, dayFmt));

    var hold = null;
    if (order.status === "held" && order.hold_until) {
      hold = el(
        "p",
        { class: "countdown", "data-hold-until": order.hold_until },
        "Goes to the shop at ",
        timeEl(order.hold_until, timeFmt),
        " unless you remove it",
        el("span", { class: "left", "data-countdown": "" }),
        "."
      );
    } else if (order.status === "needs_confirmation") {
      hold = el("p", { class: "countdown", text: "Waiting for you to confirm it." });
    }

    var filtered = null;
    if (order.filtered_presses) {
      var n = order.filtered_presses;
      filtered = el("p", {
        class: "filtered",
        text: "Pressed " + n + " more time" + (n === 1 ? "" : "s") + " while this order was on its way — no extra order was placed.",
      });
    }

    var actions = null;
    if (WAITING.indexOf(order.status) >= 0) {
      actions = el(
        "div",
        { class: "actions" },
        actionForm(order, "approve", order.status === "held" ? "Approve" : "Confirm", false),
        actionForm(order, "cancel", "Remove", true)
      );
    }

    var steps = el("ol", { class: "timeline" });
    (order.timeline || []).forEach(function (ev) {
      steps.appendChild(
        el(
          "li",
          null,
          timeEl(ev.at, stampFmt),
          " " + ev.to_status + (ev.reason ? " — " + ev.reason : "") + " ",
          el("span", { class: "muted", text: "(" + ev.actor + ")" })
        )
      );
    });

    var card = el(
      "article",
      {
        class: "card order status-" + order.status,
        id: "order-" + id,
        "data-order-id": id,
        "data-version": String(order.version),
        "data-status": order.status,
        "data-created": order.created_at || "",
        "aria-labelledby": titleId,
      },
      el(
        "div",
        { class: "order-head" },
        el("h3", { id: titleId, text: order.quantity + " × " + order.product.name }),
        el("span", { class: "badge badge-" + order.status, text: statusLabel(order.status) })
      ),
      meta,
      hold,
      filtered,
      actions,
      el("details", { class: "timeline-box" }, el("summary", { text: "Timeline" }), steps)
    );
    tick(card);
    return card;
  }

  function createdMs(node) {
    var t = Date.parse(node.dataset.created || "");
    return isNaN(t) ? Infinity : t; // an order the page has only a summary of is the newest
  }

  function place(card, section) {
    var list = listFor(section);
    var mine = createdMs(card);
    var before = null;
    for (var i = 0; i < list.children.length; i++) {
      if (createdMs(list.children[i]) < mine) {
        before = list.children[i];
        break;
      }
    }
    list.insertBefore(card, before);
  }

  function refreshEmpty() {
    root.querySelectorAll(".order-list").forEach(function (list) {
      var empty = list.parentNode.querySelector(".empty");
      if (empty) empty.hidden = list.children.length > 0;
    });
  }

  function show(order) {
    var old = document.getElementById("order-" + order.id);
    var card = renderCard(order);
    var section = sectionOf(order.status);
    // keep the open timeline and the keyboard focus where they were
    if (old) {
      var wasOpen = old.querySelector("details[open]");
      if (wasOpen) card.querySelector("details").open = true;
      var focused = old.contains(document.activeElement) ? document.activeElement : null;
      if (old.parentNode === listFor(section)) old.replaceWith(card);
      else {
        old.remove();
        place(card, section);
      }
      if (focused) {
        var form = focused.closest("form[data-action]");
        var again = form ? card.querySelector('form[data-action="' + form.dataset.action + '"] button') : null;
        if (!again) card.setAttribute("tabindex", "-1");
        (again || card).focus();
      }
    } else {
      place(card, section);
    }
    orders.set(order.id, order);
    refreshEmpty();
  }

  function forget(id) {
    orders.delete(id);
    var old = document.getElementById("order-" + id);
    if (old) old.remove();
  }

  // --- Countdown ---------------------------------------------------------------------------

  function left(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    var sec = s % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m)) + ":" + String(sec).padStart(2, "0");
    return h ? h + ":" + mm : mm;
  }

  function tick(scope) {
    var now = Date.now();
    (scope || root).querySelectorAll("[data-hold-until]").forEach(function (node) {
      var span = node.querySelector("[data-countdown]");
      if (!span) return;
      var remaining = Date.parse(node.dataset.holdUntil) - now;
      span.textContent = remaining > 0 ? " — " + left(remaining) + " left" : " — going to the shop now";
    });
  }

  // --- Data: the customer API ---------------------------------------------------------------

  function api(path, options) {
    options = options || {};
    options.credentials = "same-origin";
    options.headers = Object.assign({ Accept: "application/json" }, options.headers || {});
    return fetch(path, options).then(function (response) {
      return response
        .json()
        .catch(function () {
          return null;
        })
        .then(function (body) {
          return { ok: response.ok, status: response.status, body: body };
        });
    });
  }

  function refetchList() {
    if (refetching) {
      refetchAgain = true;
      return;
    }
    refetching = true;
    api(API)
      .then(function (answer) {
        if (answer.status === 401 || answer.status === 403) return signOut();
        if (!answer.ok || !Array.isArray(answer.body)) return;
        var seen = new Set();
        answer.body.slice(0, pageOrders).forEach(function (order) {
          seen.add(order.id);
          var known = orders.get(order.id);
          if (!known || known.version <= order.version || !document.getElementById("order-" + order.id)) show(order);
        });
        root.querySelectorAll("[data-order-id].order").forEach(function (card) {
          if (!seen.has(card.dataset.orderId)) forget(card.dataset.orderId);
        });
      })
      .catch(function () {})
      .then(function () {
        refetching = false;
        if (refetchAgain) {
          refetchAgain = false;
          refetchList();
        }
      });
  }

  function refetchOne(id) {
    api(API + "/" + id).then(function (answer) {
      if (!answer.ok || !answer.body) return;
      var known = orders.get(id);
      if (!known || known.version <= answer.body.version) show(answer.body);
    });
  }

  // One websocket message: the order's summary (id, status, product, quantity, hold_until, version).
  function applyUpdate(summary) {
    var known = orders.get(summary.id);
    if (!known && document.getElementById("order-" + summary.id)) known = { version: parseInt(document.getElementById("order-" + summary.id).dataset.version, 10) };
    if (known && known.version >= summary.version) return; // already shown (or older)
    if ((known && summary.version > known.version + 1) || (!known && summary.version > 1)) {
      refetchList(); // a message was lost: the list is the truth
      return;
    }
    var base = orders.get(summary.id) || { unit_price: null, total: null, source: "", device_serial: "", created_at: null, timeline: [], filtered_presses: 0 };
    show(Object.assign({}, base, summary)); // at once, from the message
    refetchOne(summary.id); // then price, device and timeline from the API
  }

  // --- The websocket ------------------------------------------------------------------------

  function setLive(state, text) {
    var status = document.getElementById("live-status");
    status.dataset.state = state;
    status.querySelector(".text").textContent = text;
  }

  function signOut() {
    signedOut = true;
    setLive("off", "You are signed out: sign in again to see live updates.");
  }

  function connect() {
    reconnectTimer = null;
    if (signedOut) return;
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/orders/";
    setLive("connecting", attempt ? "Reconnecting…" : "Connecting…");
    socket = new WebSocket(url);
    socket.onopen = function () {
      attempt = 0;
      setLive("on", "Live: new orders appear here by themselves.");
      refetchList(); // whatever happened while we were away (or before the socket was open)
      clearInterval(pingTimer);
      pingTimer = setInterval(function () {
        if (socket && socket.readyState === WebSocket.OPEN) socket.send('{"type":"ping"}');
      }, 25000);
    };
    socket.onmessage = function (event) {
      var data;
      try {
        data = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (data && data.type === "order.update" && data.order) applyUpdate(data.order);
    };
    socket.onclose = function (event) {
      clearInterval(pingTimer);
      socket = null;
      if (event.code === CLOSE_UNAUTHENTICATED) return signOut();
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    if (reconnectTimer || signedOut) return;
    var delay = Math.min(30000, 500 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
    attempt += 1;
    setLive("off", "Connection lost; trying again in " + Math.ceil(delay / 1000) + " s…");
    reconnectTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (socket || signedOut) return;
    clearTimeout(reconnectTimer);
    connect();
  }

  // --- Approve and Remove through the API ---------------------------------------------------

  var DONE = { approve: "Approved: the order is on its way to the shop.", cancel: "Removed: no order will be placed." };

  function announce(text, kind) {
    var box = document.getElementById("action-status");
    box.textContent = "";
    box.appendChild(el("p", { class: "message " + (kind || "success"), text: text }));
  }

  root.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-action]");
    if (!form) return;
    event.preventDefault();
    var id = form.dataset.orderId;
    var action = form.dataset.action;
    if (form.dataset.busy) return; // one request per click, however impatient
    form.dataset.busy = "1";
    form.setAttribute("aria-busy", "true");
    api(API + "/" + id + "/" + action, { method: "POST", headers: { "X-CSRFToken": csrf } })
      .then(function (answer) {
        if (answer.ok) {
          var known = orders.get(id);
          if (!known || known.version <= answer.body.version) show(answer.body);
          announce(action === "approve" && answer.body.status === "held" ? "Confirmed: the order is held for you." : DONE[action]);
        } else if (answer.status === 401 || answer.status === 403) {
          form.submit(); // let the server say what is wrong (e.g. send to the sign-in page)
        } else {
          announce((answer.body && answer.body.error && answer.body.error.detail) || "That did not work; please try again.", "error");
          delete form.dataset.busy;
          form.removeAttribute("aria-busy");
          refetchOne(id);
        }
      })
      .catch(function () {
        form.submit(); // the network failed: fall back to the plain form
      });
  });

  // --- Start ----------------------------------------------------------------------------------

  root.querySelectorAll("[data-order-id].order").forEach(function (card) {
    // what the server rendered; the first refetch (on open) replaces it with the API's data
    orders.set(card.dataset.orderId, { id: card.dataset.orderId, version: parseInt(card.dataset.version, 10) });
  });
  setInterval(tick, 1000);
  tick();
  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") reconnectNow();
  });
  connect();
})();
