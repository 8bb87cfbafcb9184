// Fuzzes the GPU profile loader (hardware/profile_loader): every input is a profile or a HardwareError.
#include <cstdint>

#include "fuzz_common.hpp"
#include "headroom/hardware/profile_loader.hpp"
#include "headroom/models/input_error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const headroom::GpuProfile g = headroom::parse_gpu_profile(headroom::fuzz::text(data, size), "fuzz.yaml");
        (void)g.usable_memory_bytes();
    } catch (const headroom::InputError&) {
    } catch (const std::exception& e) {
        headroom::fuzz::finding(e.what());
    }
    return 0;
}
