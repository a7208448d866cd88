// The widget calls these by name (data-callback etc.); they only update a status line.
(function () {
  "use strict";
  function say(text) {
    var el = document.getElementById("captcha-status");
    if (el) { el.textContent = text; }
  }
  window.crowdgateDemoSolved = function () { say("Done: you can submit the form."); };
  window.crowdgateDemoExpired = function () { say("The check expired; please tick the box again."); };
  window.crowdgateDemoError = function (err) { say("The check failed" + (err ? " (" + err + ")" : "") + "; please try again."); };
})();
