// Which CUDA GPU the executor can use, or in one sentence why none.
#pragma once

#include <string>

namespace headroom {

struct DeviceInfo {
    bool available = false;
    std::string reason;  // why not, when !available
    std::string name;
    int driver_version = 0;   // e.g. 13000 for 13.0
    int runtime_version = 0;
    double memory_bytes = 0.0;
    int sm_count = 0;
};

// Never throws: a build without CUDA, a machine without a driver, or without a device all give a reason.
// It loads the CUDA executor module (libheadroom_cuda.so) on first use.
DeviceInfo query_device();

namespace cuda {
// The module's own query (executor/cuda/device.cu), behind query_device.
DeviceInfo query_cuda_device();
}  // namespace cuda

}  // namespace headroom
