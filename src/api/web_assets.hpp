// The page's files (src/api/web/), embedded byte for byte at build time by cmake/embed.cmake into
// the generated web_assets.cpp.
#pragma once

#include <string_view>

namespace overflowd::api {

extern const std::string_view kIndexHtml;  // web/index.html
extern const std::string_view kPageCss;    // web/page.css
extern const std::string_view kPageJs;     // web/page.js

}  // namespace overflowd::api
