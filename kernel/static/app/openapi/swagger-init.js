// Starts Swagger UI on /schema/swagger from a file, not an inline script, so the page runs
// under a Content-Security-Policy without 'unsafe-inline'. The document's URL comes from the
// element's data-spec-url attribute, set by the server.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "BaseLayout",
    validatorUrl: null, // the default badge calls validator.swagger.io
  });
});
