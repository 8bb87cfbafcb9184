// Loading GPU profiles from the shipped YAML files (hardware/profiles/), from a user's YAML file, and
// overriding them field by field.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "headroom/hardware/gpu_profile.hpp"

namespace headroom {

// Names of the shipped profiles, in a stable order.
std::vector<std::string> shipped_gpu_names();

// `spec` is a shipped name or alias ("h100", "h200-sxm"), or a path to a YAML file. A file may be a whole
// profile, or start with `base: <name or path>` and list only the fields it changes (bare numbers allowed;
// their source becomes the file).
GpuProfile load_gpu(std::string_view spec);

// Parses a whole profile, or a `base:` override file, from YAML text. `file` is used in messages.
GpuProfile parse_gpu_profile(std::string_view text, std::string_view file);

// Applies "section.key=value" (e.g. "memory.bandwidth_gb_per_s=3000"); the source becomes `origin`.
void apply_gpu_override(GpuProfile& gpu, std::string_view assignment, std::string_view origin);

}  // namespace headroom
