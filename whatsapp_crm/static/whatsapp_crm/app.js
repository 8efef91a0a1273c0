// Toasts: the server asks for them with HX-Trigger {"showToast": {"toasts": [{message, level}]}}
// (whatsapp_crm.ui.toast); Django messages rendered with the page close by themselves too.
(function () {
  function showToast(message, level) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var el = document.createElement("div");
    el.className = "toast toast-" + (level || "info");
    el.setAttribute("role", level === "error" ? "alert" : "status");
    el.textContent = message;
    box.appendChild(el);
    setTimeout(function () { el.remove(); }, level === "error" ? 12000 : 6000);
  }
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
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-autoclose]").forEach(function (el) {
      setTimeout(function () { el.remove(); }, 6000);
    });
  });
})();
