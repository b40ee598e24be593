// The receiver's page: src/api/web/index.html with its stylesheet (page.css) and script (page.js)
// put inline, so that the page is one static document with no external resource (no CDN) and
// the Content-Security-Policy can refuse everything else. The three files are embedded at build
// time (cmake/embed.cmake -> web_assets.cpp). Every value from a report is attacker-chosen text,
// so the script only ever sets textContent, never HTML.
#include <stdexcept>

#include "api/http_api.hpp"
#include "api/web_assets.hpp"

namespace overflowd::api {

namespace {

// Replaces the one line `link` of `html` with `inline_text`; the page is broken without it.
void put_inline(std::string& html, std::string_view link, std::string_view inline_text) {
  const auto at = html.find(link);
  if (at == std::string::npos) throw std::logic_error("web/index.html lost its line " + std::string(link));
  html.replace(at, link.size(), inline_text);
}

}  // namespace

const std::string& web_page() {
  static const std::string page = [] {
    std::string html(kIndexHtml);
    put_inline(html, "<link rel=\"stylesheet\" href=\"page.css\">\n", "<style>\n" + std::string(kPageCss) + "</style>\n");
    put_inline(html, "<script src=\"page.js\"></script>\n", "<script>\n" + std::string(kPageJs) + "</script>\n");
    return html;
  }();
  return page;
}

}  // namespace overflowd::api
