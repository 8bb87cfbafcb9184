// Fuzzes the kernel-table reader (hardware/kernel_tables: a user's .hkt, `kernel_tables:`) and the tables
// predictor on what it reads: every input is tables that price a dense and an MoE model's steps, or a
// HardwareError.
#include <cstdint>
#include <memory>

#include "fuzz_common.hpp"
#include "headroom/core/kernel_table_predictor.hpp"
#include "headroom/hardware/kernel_tables.hpp"
#include "headroom/hardware/profile_loader.hpp"
#include "headroom/models/config_loader.hpp"
#include "headroom/models/input_error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const headroom::ModelCard dense = headroom::load_model("meta-llama/Llama-3.1-8B-Instruct");
    static const headroom::ModelCard moe = headroom::load_model("mistralai/Mixtral-8x7B-v0.1");
    static const headroom::GpuProfile gpu = headroom::load_gpu("h100-sxm");
    try {
        auto t = std::make_shared<headroom::KernelTables>(
            headroom::parse_kernel_tables(headroom::fuzz::text(data, size), "fuzz.hkt"));
        headroom::check_kernel_tables(*t);
        for (const headroom::ModelCard* m : {&dense, &moe}) {
            headroom::CostConfig c;
            c.tp = 2;
            c.kernel_tables = t;
            const auto p = headroom::make_step_predictor(*m, gpu, c, "tables");
            (void)p->step({{512, 0}, {1, 1000}, {1, 30000}});
            (void)p->step({{1, 100}});
            (void)p->step({{9000, 4000}});
        }
    } catch (const headroom::InputError&) {
    } catch (const std::exception& e) {
        headroom::fuzz::finding(e.what());
    }
    return 0;
}
