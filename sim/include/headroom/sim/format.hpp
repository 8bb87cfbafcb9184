// Number formatting shared by every sentence and table headroom prints.
#pragma once

#include <cstdint>
#include <string>

namespace headroom {

std::string group_thousands(int64_t n);  // 131072 -> "131,072"
// A time as the sentences print it: "38 ms" under 0.1 s, else 2 significant digits ("2.1 s"). Beside the
// threshold it is judged against, with as many more digits as it takes not to read as that threshold when it
// is not equal to it: "2.004 s" against a 2 s SLO, never "2 s".
std::string seconds_text(double s);
std::string seconds_beside(double s, double threshold_s);

}  // namespace headroom
