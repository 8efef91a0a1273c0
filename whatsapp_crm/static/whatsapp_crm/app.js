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
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-autoclose]").forEach(function (el) {
      setTimeout(function () { el.remove(); }, 6000);
    });
  });
})();
