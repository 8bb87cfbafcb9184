// Device query: cudaGetDeviceCount fails with cudaErrorInsufficientDriver where there is no driver (build
// machines), and returns 0 where there is a driver but no device.
#include "check.cuh"
#include "headroom/executor/device.hpp"

namespace headroom {

DeviceInfo cuda::query_cuda_device() {
    DeviceInfo d;
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        d.reason = std::string("no usable CUDA GPU (") + cudaGetErrorString(err) + ")";
        cudaGetLastError();  // clear the sticky error
        return d;
    }
    if (count == 0) {
        d.reason = "no CUDA GPU on this machine";
        return d;
    }
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) {
        d.reason = "cannot read the properties of GPU 0";
        return d;
    }
    d.available = true;
    d.name = p.name;
    d.memory_bytes = static_cast<double>(p.totalGlobalMem);
    d.sm_count = p.multiProcessorCount;
    cudaDriverGetVersion(&d.driver_version);
    cudaRuntimeGetVersion(&d.runtime_version);
    return d;
}

}  // namespace headroom
