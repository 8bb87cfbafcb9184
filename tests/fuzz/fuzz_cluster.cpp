// Fuzzes the cluster loader (hardware/cluster): every input is a cluster or a HardwareError, and a cluster builds
// its graph and answers a route and its bisection bandwidth without a crash.
#include <cstdint>

#include "fuzz_common.hpp"
#include "headroom/hardware/cluster.hpp"
#include "headroom/models/input_error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const headroom::ClusterTopology t(headroom::parse_cluster(headroom::fuzz::text(data, size), "fuzz.yaml"));
        if (t.gpu_count() <= 256) {  // the graph algorithms on a big cluster take longer than a fuzz run allows
            (void)t.route(0, t.gpu_count() - 1);
            (void)t.bisection_bytes_per_s();
            (void)t.dot();
        }
    } catch (const headroom::InputError&) {
    } catch (const std::exception& e) {
        headroom::fuzz::finding(e.what());
    }
    return 0;
}
