// Number formatting shared by every sentence and table headroom prints.
#pragma once

#include <cstdint>
#include <string>

namespace headroom {

std::string group_thousands(int64_t n);  // 131072 -> "131,072"

}  // namespace headroom
