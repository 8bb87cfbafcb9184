// Device query of a build without CUDA (no nvcc at build time).
#include "headroom/executor/device.hpp"

namespace headroom {

DeviceInfo query_device() {
    DeviceInfo d;
    d.reason = "headroom was built without CUDA (nvcc was not found at build time)";
    return d;
}

}  // namespace headroom
