// Runs before the first paint (a classic script in <head>): applies the
// remembered appearance and language, so a dark-mode or Spanish page never
// flashes light or English while the modules load.
(function () {
  try {
    var appearance = localStorage.getItem("hallpass.appearance");
    if (appearance === "light" || appearance === "dark") {
      document.documentElement.setAttribute("data-appearance", appearance);
    }
    var language = localStorage.getItem("hallpass.language");
    if (language === "en" || language === "es") {
      document.documentElement.lang = language;
    }
  } catch (e) {
    // Storage may be blocked (private mode); the defaults are fine.
  }
})();
