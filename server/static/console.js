// Keyboard shortcuts of the review console. Everything works without them: they only click
// the links and buttons the page already has.
(function () {
  "use strict";
  function typing(e) {
    var el = e.target;
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
  }
  function click(id) {
    var el = document.getElementById(id);
    if (el) { el.click(); return true; }
    return false;
  }
  document.addEventListener("DOMContentLoaded", function () {
    var rows = Array.prototype.slice.call(document.querySelectorAll("#queue tbody tr.row"));
    var current = rows.length ? 0 : -1;
    function mark() {
      rows.forEach(function (r, i) { r.classList.toggle("current", i === current); });
      if (current >= 0) { rows[current].scrollIntoView({ block: "nearest" }); }
    }
    mark();
    rows.forEach(function (r) {
      r.addEventListener("click", function (e) {
        if (e.target.tagName === "INPUT" || e.target.tagName === "A") { return; }
        window.location.href = r.getAttribute("data-href");
      });
    });
    var comment = document.getElementById("decision-comment");
    var sendBack = document.getElementById("send-back");
    if (sendBack && comment) {
      // A send-back needs a comment: say so before the round trip.
      sendBack.addEventListener("click", function (e) {
        if (!comment.value.trim()) { e.preventDefault(); comment.required = true; comment.reportValidity(); comment.focus(); }
      });
    }
    document.addEventListener("keydown", function (e) {
      if (e.ctrlKey || e.metaKey || e.altKey || typing(e)) { return; }
      var k = e.key;
      if (rows.length) {
        if (k === "j" && current < rows.length - 1) { current++; mark(); e.preventDefault(); }
        else if (k === "k" && current > 0) { current--; mark(); e.preventDefault(); }
        else if ((k === "Enter" || k === "o") && current >= 0) { window.location.href = rows[current].getAttribute("data-href"); }
        else if (k === "x" && current >= 0) {
          var box = rows[current].querySelector("input[type=checkbox]");
          if (box) { box.checked = !box.checked; }
        }
        else if (k === "a") { click("bulk-approve"); }
        return;
      }
      if (k === "a") { click("approve"); }
      else if (k === "s") { if (comment) { comment.focus(); e.preventDefault(); } }
      else if (k === "r") { click("reject"); }
      else if (k === "n") { click("next"); }
      else if (k === "p") { click("prev"); }
      else if (k === "q") { click("back-to-queue"); }
    });
  });
})();
