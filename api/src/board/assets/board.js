// The queue board's only script. Pages work without it; it adds confirmations before
// destructive actions and live updates: the server's event stream says when the queue
// changed, and the page reloads its live region (never the filter form being typed in).
(function () {
  "use strict";

  // Set once a form is sent: the page is being left, so a refresh must neither swap the
  // region nor start a navigation of its own (it would abort the form's).
  var leaving = false;
  var events = null;

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    leaving = true;
    if (events) {
      events.close();
    }
  });

  // A page brought back from the back-forward cache has stopped listening: load it afresh.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      window.location.reload();
    }
  });

  var live = document.getElementById("live");
  if (!live || live.getAttribute("data-live") !== "on" || !window.EventSource) {
    return;
  }

  var busy = false;
  var again = false;

  function refresh() {
    if (leaving) {
      return;
    }
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    fetch(window.location.href, {
      headers: { "X-Board-Fragment": "1" },
      credentials: "same-origin",
      cache: "no-store"
    })
      .then(function (response) {
        if (leaving) {
          return null;
        }
        if (response.status === 401) {
          window.location.assign("/board/sign-in");
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html !== null && !leaving) {
          live.innerHTML = html;
          document.body.setAttribute("data-refreshed", String(Date.now()));
        }
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  events = new EventSource("/board/events");
  events.addEventListener("ready", function () {
    document.body.setAttribute("data-live", "connected");
  });
  events.addEventListener("change", refresh);
  events.onerror = function () {
    document.body.setAttribute("data-live", "reconnecting");
  };
})();
