/*
 * Over-size uploads caught in the browser, before anything is sent.
 *
 * A body over the server's MAX_CONTENT_LENGTH is cut off with a 413 page, and the person
 * loses everything typed. On each form marked `data-upload-limits`, this checks the chosen
 * files' sizes (never their content) when a file is chosen and again on submit: a file over
 * `data-max-file-bytes`, or files together over `data-max-total-bytes`, stop the submit and
 * put the message the server rendered in the page's language (`data-file-too-large`,
 * `data-total-too-large`) next to the field, with the markup of the server's own errors
 * (templates/_form.html) so screen readers announce it. Nothing here is needed: without
 * JavaScript the server checks the same limits.
 */
(function () {
  "use strict";

  var SUFFIX = "-size-error";

  function fileInputs(form) {
    return Array.prototype.slice.call(form.querySelectorAll('input[type="file"]'));
  }

  function filesOf(input) {
    return Array.prototype.slice.call(input.files || []);
  }

  function setDescribedBy(input, id, present) {
    var ids = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (x) {
      return x && x !== id;
    });
    if (present) {
      ids.push(id);
    }
    if (ids.length) {
      input.setAttribute("aria-describedby", ids.join(" "));
    } else {
      input.removeAttribute("aria-describedby");
    }
  }

  function clear(input) {
    var id = input.id + SUFFIX;
    var message = document.getElementById(id);
    if (!message) {
      return;
    }
    var field = message.parentNode;
    message.remove();
    setDescribedBy(input, id, false);
    // A message from the server (a missing document, say) stays with its marks.
    if (!field.querySelector(".error")) {
      field.classList.remove("has-error");
      input.removeAttribute("aria-invalid");
    }
  }

  function show(input, text, announce) {
    var id = input.id + SUFFIX;
    var message = document.getElementById(id);
    // The same message again on a change elsewhere is left alone (not read out twice);
    // on submit it is put back so that the alert is announced once more.
    if (message && message.textContent === text && !announce) {
      return;
    }
    if (message) {
      message.remove();
    }
    message = document.createElement("p");
    message.className = "error";
    message.id = id;
    message.setAttribute("role", "alert");
    message.textContent = text;
    var field = input.closest(".field") || input.parentNode;
    field.appendChild(message);
    field.classList.add("has-error");
    input.setAttribute("aria-invalid", "true");
    setDescribedBy(input, id, true);
  }

  /* The fields whose files are too large, each with its message, in the page's order. The
   * total's message goes on `preferred` (the field just changed) when it holds a file, else
   * on the last field that does; it is shown only when no single file is over. */
  function problems(form, preferred) {
    var perFile = Number(form.getAttribute("data-max-file-bytes")) || 0;
    var perRequest = Number(form.getAttribute("data-max-total-bytes")) || 0;
    var found = [];
    var total = 0;
    var last = null;
    fileInputs(form).forEach(function (input) {
      var files = filesOf(input);
      var tooLarge = false;
      files.forEach(function (file) {
        total += file.size;
        tooLarge = tooLarge || (perFile > 0 && file.size > perFile);
      });
      if (files.length) {
        last = input;
      }
      if (tooLarge) {
        found.push({ input: input, text: form.getAttribute("data-file-too-large") });
      }
    });
    if (!found.length && perRequest > 0 && total > perRequest) {
      var at = preferred && filesOf(preferred).length ? preferred : last;
      found.push({ input: at, text: form.getAttribute("data-total-too-large") });
    }
    return found;
  }

  function render(form, found, announce) {
    fileInputs(form).forEach(function (input) {
      var problem = found.filter(function (p) { return p.input === input; })[0];
      if (problem) {
        show(input, problem.text, announce);
      } else {
        clear(input);
      }
    });
  }

  function watch(form) {
    form.addEventListener("change", function (event) {
      var target = event.target;
      if (target && target.type === "file") {
        render(form, problems(form, target), false);
      }
    });
    form.addEventListener("submit", function (event) {
      var found = problems(form, null);
      render(form, found, true);
      if (found.length) {
        // Nothing is sent: what was typed stays as it is, and the person lands on the field.
        event.preventDefault();
        found[0].input.focus();
      }
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-upload-limits]"), watch);
})();
