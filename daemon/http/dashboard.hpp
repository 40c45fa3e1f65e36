#pragma once
// The web dashboard under /dashboard/: static files (daemon/http/dashboard/) embedded at
// build time; the page talks to the admin API with the operator's own token.
#include <string_view>

namespace herald::http {

extern const std::string_view kDashboardIndex;
extern const std::string_view kDashboardScript;
extern const std::string_view kDashboardStyle;

}  // namespace herald::http
