// Toasts: the server asks for them with HX-Trigger {"showToast": {"toasts": [{message, level}]}}
// (whatsapp_crm.ui.toast); Django messages rendered with the page close by themselves too.
(function () {
  // At most this many toasts at once: a new one pushes out the oldest. The same message twice
  // while the first is still shown restarts that one instead of stacking a copy.
  var MAX_TOASTS = 3;
  function dismiss(el) {
    if (el.__timer) clearTimeout(el.__timer);
    el.remove();
  }
  function arm(el, level) {
    if (el.__timer) clearTimeout(el.__timer);
    el.__timer = setTimeout(function () { dismiss(el); }, level === "error" ? 12000 : 6000);
  }
  function addClose(el) {
    if (el.querySelector(".toast-close")) return;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "Close");
    close.title = "Close"; // the × is drawn by CSS, so the toast's text stays the message alone
    el.appendChild(close);
  }
  function showToast(message, level) {
    var box = document.getElementById("toasts");
    if (!box) return;
    level = level || "info";
    var existing = Array.prototype.find.call(box.children, function (t) {
      return t.getAttribute("data-message") === message;
    });
    if (existing) { arm(existing, level); return; }
    var el = document.createElement("div");
    el.className = "toast toast-" + level;
    el.setAttribute("role", level === "error" ? "alert" : "status");
    el.setAttribute("data-message", message);
    var text = document.createElement("span");
    text.className = "toast-text";
    text.textContent = message;
    el.appendChild(text);
    addClose(el);
    box.appendChild(el);
    while (box.children.length > MAX_TOASTS) dismiss(box.firstElementChild);
    arm(el, level);
  }
  document.addEventListener("click", function (evt) {
    var close = evt.target.closest ? evt.target.closest(".toast-close") : null;
    if (close) dismiss(close.closest(".toast"));
  });
  window.showToast = showToast;
  document.addEventListener("showToast", function (evt) {
    var detail = evt.detail || {};
    var toasts = detail.toasts || (detail.message ? [detail] : []);
    toasts.forEach(function (t) { showToast(t.message, t.level); });
  });
  // A request that fails outright (network down, 5xx without a toast) must not fail silently.
  document.addEventListener("htmx:sendError", function () {
    showToast("The server could not be reached. Check your connection and try again.", "error");
  });
  document.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    if (xhr && xhr.getResponseHeader("HX-Trigger")) return; // the server already explained it
    showToast("Request failed (" + (xhr ? xhr.status : "?") + "). Please try again.", "error");
  });
  // No inline handlers anywhere (the Content-Security-Policy forbids them): behaviour is declared
  // with data attributes and wired here.
  // <form data-swap-400>: a 400 answer is the form again with its errors; swap it in place.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var elt = evt.detail.requestConfig && evt.detail.requestConfig.elt;
    var form = elt && elt.closest ? elt.closest("[data-swap-400]") : null;
    if (form && evt.detail.xhr.status === 400) {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    }
  });
  // <button data-check-all="selector" data-checked="true|false">: tick or clear checkboxes.
  document.addEventListener("click", function (evt) {
    var button = evt.target.closest ? evt.target.closest("[data-check-all]") : null;
    if (!button) return;
    var checked = button.getAttribute("data-checked") === "true";
    document.querySelectorAll(button.getAttribute("data-check-all")).forEach(function (box) {
      box.checked = checked;
    });
  });
  // <form data-reset-on="eventName">: cleared when the server fires that event (HX-Trigger), e.g.
  // the connect form after a session was created — not after an error, so nothing typed is lost.
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-reset-on]").forEach(function (form) {
      document.body.addEventListener(form.getAttribute("data-reset-on"), function () { form.reset(); });
    });
  });
  // <button data-toggle="#panel" aria-expanded>: shows or hides the panel (its `hidden`); the
  // choice is remembered for the tab, so a panel the user opened stays open when htmx redraws it.
  function rememberKey(panel) { return "open:" + panel.id; }
  document.addEventListener("click", function (evt) {
    var button = evt.target.closest ? evt.target.closest("[data-toggle]") : null;
    if (!button) return;
    var panel = document.querySelector(button.getAttribute("data-toggle"));
    if (!panel) return;
    var open = panel.hidden;
    panel.hidden = !open;
    button.setAttribute("aria-expanded", open ? "true" : "false");
    try { sessionStorage.setItem(rememberKey(panel), open ? "1" : "0"); } catch (e) { /* private mode */ }
  });
  function restoreToggles(root) {
    root.querySelectorAll("[data-toggle]").forEach(function (button) {
      var panel = document.querySelector(button.getAttribute("data-toggle"));
      if (!panel) return;
      var remembered = null;
      try { remembered = sessionStorage.getItem(rememberKey(panel)); } catch (e) { /* private mode */ }
      if (remembered === null) return;
      var open = remembered === "1" || button.getAttribute("aria-expanded") === "true";
      panel.hidden = !open;
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }
  document.addEventListener("htmx:load", function (evt) {
    if (evt.detail && evt.detail.elt && evt.detail.elt.querySelectorAll) restoreToggles(evt.detail.elt);
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".toast[data-autoclose]").forEach(function (el) {
      addClose(el);
      arm(el, el.classList.contains("toast-error") ? "error" : "info");
    });
    var box = document.getElementById("toasts");
    while (box && box.children.length > MAX_TOASTS) dismiss(box.firstElementChild);
  });
})();
