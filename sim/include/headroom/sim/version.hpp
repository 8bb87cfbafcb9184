// The headroom version and the git commit the binary was built from; every JSON result carries both.
#pragma once

#include <string_view>

namespace headroom {

std::string_view version();
std::string_view git_commit();  // short hash, "-dirty" when built from uncommitted changes

}  // namespace headroom
