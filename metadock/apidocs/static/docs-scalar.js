// Scalar's start-up, as a file: the docs pages allow no inline script. No default fonts: they come from Scalar's CDN.
window.addEventListener("DOMContentLoaded", function () {
  Scalar.createApiReference("#api-reference", {
    url: "/openapi.json",
    withDefaultFonts: false,
    hideClientButton: false,
    telemetry: false,
  });
});
