// shootflow's own: starts the vendored Swagger UI on the page's OpenAPI document.
window.addEventListener("DOMContentLoaded", () => {
  const element = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: element.dataset.specUrl,
    domNode: element,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
  });
});
