// The campaign and queue forms (templates/campaigns_app/): group search, "Select shown", the
// send-time estimate, the recipient filled from a picked group, the character count, the
// preview, and a hint for a time that has passed. No inline scripts (the CSP forbids them):
// everything is wired here by data attributes, with listeners on the document so that the group
// picker still works after htmx swaps it for another session.
(function () {
  "use strict";

  function plural(n, noun) { return n + " " + noun + (n === 1 ? "" : "s"); }

  // Same wording as campaigns_app/selectors.py duration_text / send_time_estimate.
  function duration(seconds) {
    seconds = Math.round(seconds);
    if (seconds < 60) return seconds + " s";
    var minutes = Math.floor(seconds / 60), rest = seconds % 60;
    if (minutes < 60) return minutes + " min" + (rest ? " " + rest + " s" : "");
    var hours = Math.floor(minutes / 60);
    minutes = minutes % 60;
    return hours + " h" + (minutes ? " " + minutes + " min" : "");
  }

  function estimate(groups, rate) {
    if (!rate) return plural(groups, "group") + ", no rate limit";
    return plural(groups, "group") + " at " + rate + "/min ≈ " + duration(groups * 60 / rate);
  }

  // --- group picker ---------------------------------------------------------------------------

  function pickerItems(picker) { return picker.querySelectorAll("[data-picker-item]"); }

  function filterPicker(picker) {
    var search = picker.querySelector("[data-picker-search]");
    var words = (search ? search.value : "").toLowerCase().trim().split(/\s+/).filter(Boolean);
    var shown = 0, total = 0;
    pickerItems(picker).forEach(function (item) {
      var text = item.getAttribute("data-search") || "";
      var match = words.every(function (w) { return text.indexOf(w) !== -1; });
      item.hidden = !match;
      if (!item.querySelector("input[disabled]")) {
        total += 1;
        if (match) shown += 1;
      }
    });
    var label = picker.querySelector("[data-picker-shown]");
    if (label) {
      label.textContent = words.length ? shown + " of " + plural(total, "group") + " shown"
                                       : plural(total, "group");
    }
    // "Select all" while nothing is searched; "Select shown" ticks only what the search shows.
    var selectShown = picker.querySelector("[data-picker-select=shown]");
    if (selectShown) selectShown.textContent = words.length ? "Select shown" : "Select all";
    var none = picker.querySelector("[data-picker-none]");
    if (none) none.hidden = !words.length || pickerItems(picker).length === 0 ||
      Array.prototype.some.call(pickerItems(picker), function (i) { return !i.hidden; });
  }

  function summarize(picker) {
    var summary = picker.querySelector("[data-picker-summary]");
    if (!summary) return;
    var n = picker.querySelectorAll("input[name=group_ids]:checked").length;
    var rate = parseInt(picker.getAttribute("data-rate") || "0", 10);
    summary.textContent = "";
    if (!n) { summary.textContent = "No group selected yet."; return; }
    summary.appendChild(document.createTextNode("Selected: "));
    var strong = document.createElement("strong");
    strong.textContent = estimate(n, rate);
    summary.appendChild(strong);
  }

  document.addEventListener("input", function (evt) {
    var target = evt.target;
    if (target.matches && target.matches("[data-picker-search]")) {
      filterPicker(target.closest("[data-group-picker]"));
    }
    if (target.matches && target.matches("[data-char-count], [data-preview]")) {
      updateMessage(target);
    }
    if (target.id === "recipient-jid") {
      // Typing a JID by hand: the picked group no longer applies unless it is that JID.
      document.querySelectorAll("input[data-fill='#recipient-jid']").forEach(function (radio) {
        radio.checked = radio.value === target.value.trim();
      });
    }
    if (target.matches && target.matches("[data-past-check]")) pastHint(target);
  });

  document.addEventListener("change", function (evt) {
    var target = evt.target;
    var picker = target.closest ? target.closest("[data-group-picker]") : null;
    if (picker && target.name === "group_ids") summarize(picker);
    if (target.matches && target.matches("input[data-fill]") && target.checked) {
      var field = document.querySelector(target.getAttribute("data-fill"));
      if (field) field.value = target.value;
    }
    if (target.name === "when" || (target.matches && target.matches("[data-past-check]"))) {
      var form = target.form;
      var input = form && form.querySelector("[data-past-check]");
      if (input) pastHint(input);
    }
  });

  document.addEventListener("click", function (evt) {
    var button = evt.target.closest ? evt.target.closest("[data-picker-select]") : null;
    if (!button) return;
    var picker = button.closest("[data-group-picker]");
    var all = button.getAttribute("data-picker-select") === "shown";
    pickerItems(picker).forEach(function (item) {
      var box = item.querySelector("input[name=group_ids]");
      if (!box || box.disabled) return;
      if (all) { if (!item.hidden) box.checked = true; } else { box.checked = false; }
    });
    summarize(picker);
  });

  // Enter in the search box filters; it must not submit the whole form.
  document.addEventListener("keydown", function (evt) {
    if (evt.key === "Enter" && evt.target.matches && evt.target.matches("[data-picker-search]")) {
      evt.preventDefault();
    }
  });

  // --- message: count and preview --------------------------------------------------------------

  // WhatsApp's markers: *bold*, _italic_, ~strike~, ```monospace```. Built as DOM nodes (never
  // innerHTML), so the typed text cannot inject markup.
  var MARKERS = [
    { re: /```([^`]+)```/, tag: "code" },
    { re: /\*([^*\n]+)\*/, tag: "strong" },
    { re: /_([^_\n]+)_/, tag: "em" },
    { re: /~([^~\n]+)~/, tag: "s" }
  ];

  function formatInto(parent, text) {
    var best = null;
    MARKERS.forEach(function (m) {
      var found = m.re.exec(text);
      if (found && (best === null || found.index < best.found.index)) best = { m: m, found: found };
    });
    if (!best) { parent.appendChild(document.createTextNode(text)); return; }
    var before = text.slice(0, best.found.index);
    if (before) parent.appendChild(document.createTextNode(before));
    var el = document.createElement(best.m.tag);
    formatInto(el, best.found[1]);
    parent.appendChild(el);
    formatInto(parent, text.slice(best.found.index + best.found[0].length));
  }

  function updateMessage(textarea) {
    var counter = document.querySelector(textarea.getAttribute("data-char-count"));
    if (counter) {
      var limit = counter.getAttribute("data-limit");
      var n = textarea.value.length;
      counter.textContent = n + " / " + limit + " characters";
      counter.classList.toggle("text-amber", n > limit * 0.9);
    }
    var preview = document.querySelector(textarea.getAttribute("data-preview"));
    if (preview) {
      preview.textContent = "";
      if (textarea.value.trim()) {
        formatInto(preview, textarea.value);
        preview.classList.remove("muted");
      } else {
        preview.textContent = preview.getAttribute("data-empty") || "";
        preview.classList.add("muted");
      }
    }
  }

  // --- a time that has passed ------------------------------------------------------------------

  function pastHint(input) {
    var form = input.form;
    var hint = form && form.querySelector("[data-past-hint]");
    if (!hint) return;
    var later = form.querySelector("input[name=when][value=later]");
    // The typed time is in the organization's zone, not necessarily the browser's: compare it
    // with the server's "now" in that zone (data-now-local, rendered at data-now-epoch).
    var typed = input.value ? Date.parse(input.value) : NaN;
    var nowLocal = Date.parse(input.getAttribute("data-now-local") || "");
    var nowEpoch = parseInt(input.getAttribute("data-now-epoch") || "", 10);
    if (isNaN(typed) || isNaN(nowLocal) || isNaN(nowEpoch)) { hint.hidden = true; return; }
    var elapsed = Date.now() - nowEpoch;
    // A minute of grace, as on the server (campaigns_app/forms.py PAST_GRACE).
    hint.hidden = !(later && later.checked && typed + 60000 <= nowLocal + elapsed);
  }

  function init() {
    document.querySelectorAll("[data-group-picker]").forEach(function (picker) {
      filterPicker(picker);
      summarize(picker);
    });
    document.querySelectorAll("[data-char-count]").forEach(updateMessage);
    document.querySelectorAll("[data-past-check]").forEach(pastHint);
  }

  document.addEventListener("DOMContentLoaded", init);
  // A new group picker (another session): count its groups and selection.
  document.addEventListener("htmx:afterSwap", function (evt) {
    var picker = document.getElementById("group-picker");
    if (picker && evt.detail.target && evt.detail.target.id === "group-picker") {
      filterPicker(picker);
      summarize(picker);
    }
  });
})();
