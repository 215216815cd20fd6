// Starts Swagger UI on /docs against this server's /openapi.json. A file of
// its own because the page's Content-Security-Policy forbids inline scripts.
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    displayRequestDuration: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    // No call to the public validator badge: the explorer works offline and
    // the page may only connect to this origin.
    validatorUrl: null,
    // Tokens entered in Authorize stay in this tab's memory, never in storage.
    persistAuthorization: false,
  });
});
