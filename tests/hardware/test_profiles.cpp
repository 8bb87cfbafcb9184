// GPU profiles: every shipped profile loads with a source for each number; overrides and rejections.
#include <gtest/gtest.h>

#include "headroom/hardware/calibration.hpp"
#include "headroom/hardware/profile_loader.hpp"

using namespace headroom;

namespace {

std::string data(const std::string& name) { return std::string(HEADROOM_TEST_DATA) + "/profiles/" + name; }

}  // namespace

TEST(Profiles, EveryShippedProfileLoadsWithSources) {
    const auto names = shipped_gpu_names();
    // H100 SXM, H100 PCIe, H200, B200, GB200, A100 80GB, L40S, Jetson AGX Orin 64GB, Jetson Orin Nano 8GB
    EXPECT_EQ(names.size(), 9u);
    for (const auto& n : names) {
        const GpuProfile g = load_gpu(n);
        EXPECT_EQ(g.name, n);
        EXPECT_FALSE(g.price_read_on.empty()) << n;
        for (const ProfileField& f : profile_fields()) {
            const Sourced& s = g.*(f.member);
            if (f.required) {
                EXPECT_TRUE(s.present()) << n << " " << f.path;
            }
            if (s.present()) {
                EXPECT_GT(s.source.size(), 10u) << n << " " << f.path << " needs a source";
            }
        }
    }
}

TEST(Profiles, DatasheetFigures) {
    // shared/reference/hardware.md: H100 SXM 80 GB, 3.35 TB/s, 989 bf16 dense, 1,979 fp8
    const GpuProfile h100 = load_gpu("h100");
    EXPECT_EQ(h100.name, "h100-sxm");
    EXPECT_DOUBLE_EQ(h100.memory_bytes(), 80.0 * 1024 * 1024 * 1024);
    EXPECT_DOUBLE_EQ(h100.memory_bandwidth_bytes_per_s(), 3.35e12);
    EXPECT_DOUBLE_EQ(h100.peak_flops(Dtype::BF16), 989e12);
    EXPECT_DOUBLE_EQ(h100.peak_flops(Dtype::FP8), 1979e12);
    EXPECT_DOUBLE_EQ(h100.peak_flops(Dtype::INT4), 989e12);  // int4 weights multiply in bf16
    EXPECT_EQ(load_gpu("a100").peak_flops(Dtype::FP8), 0.0);  // Ampere has no fp8 units
    EXPECT_DOUBLE_EQ(load_gpu("h200").memory_bandwidth_gb_per_s.value, 4800);
    EXPECT_DOUBLE_EQ(load_gpu("b200").fp4_tflops.value, 9000);
    EXPECT_FALSE(load_gpu("l40s").has_nvlink());
    EXPECT_TRUE(load_gpu("orin").memory_shared_with_cpu);
}

TEST(Profiles, OverrideFromCommandLine) {
    GpuProfile g = load_gpu("h100");
    apply_gpu_override(g, "memory.bandwidth_gb_per_s=3000", "--gpu-set");
    EXPECT_DOUBLE_EQ(g.memory_bandwidth_gb_per_s.value, 3000);
    EXPECT_NE(g.memory_bandwidth_gb_per_s.source.find("--gpu-set"), std::string::npos);
    EXPECT_THROW(apply_gpu_override(g, "memory.speed=3", "--gpu-set"), HardwareError);
    EXPECT_THROW(apply_gpu_override(g, "memory.bandwidth_gb_per_s=0", "--gpu-set"), HardwareError);
    EXPECT_THROW(apply_gpu_override(g, "memory.bandwidth_gb_per_s=-1", "--gpu-set"), HardwareError);
    EXPECT_THROW(apply_gpu_override(g, "memory.bandwidth_gb_per_s=fast", "--gpu-set"), HardwareError);
    EXPECT_THROW(apply_gpu_override(g, "efficiency.memory=1.5", "--gpu-set"), HardwareError);
    EXPECT_THROW(apply_gpu_override(g, "efficiency.memory", "--gpu-set"), HardwareError);
}

TEST(Profiles, OverrideFromUserFile) {
    // good_override.yaml: base h100, bandwidth 3000 as a bare number, price with a source
    const GpuProfile g = load_gpu(data("good_override.yaml"));
    EXPECT_EQ(g.name, "h100-sxm");
    EXPECT_DOUBLE_EQ(g.memory_bandwidth_gb_per_s.value, 3000);
    EXPECT_EQ(g.memory_bandwidth_gb_per_s.source, data("good_override.yaml"));
    EXPECT_DOUBLE_EQ(g.price_usd_per_gpu_hour.value, 2.1);
    EXPECT_DOUBLE_EQ(g.bf16_tflops.value, 989);  // untouched fields keep the base's values
}

TEST(Profiles, RejectionsNameTheField) {
    auto field_of = [](const std::string& file) {
        try {
            load_gpu(data(file));
        } catch (const HardwareError& e) {
            return e.field();
        }
        return std::string("no error");
    };
    EXPECT_EQ(field_of("missing_bandwidth.yaml"), "memory.bandwidth_gb_per_s");
    EXPECT_EQ(field_of("zero_memory.yaml"), "memory.capacity_gib");
    EXPECT_EQ(field_of("negative_tflops.yaml"), "compute_tflops.bf16");
    EXPECT_EQ(field_of("unknown_field.yaml"), "memory.speed_gb_per_s");
    EXPECT_EQ(field_of("missing_source.yaml"), "compute_tflops.fp16.source");
    EXPECT_EQ(field_of("fraction_over_one.yaml"), "memory.usable_fraction");
}

// Every domain's input error is one InputError: the CLI catches that one type for exit code 2, Python for
// headroom.InputError. The message joins the non-empty parts with ": ".
TEST(InputErrors, EveryDomainThrowsAnInputErrorWithFileFieldAndReason) {
    const InputError e("a.yaml", "scheduler.block_size", "must be >= 1");
    EXPECT_STREQ(e.what(), "a.yaml: scheduler.block_size: must be >= 1");
    EXPECT_STREQ(InputError("", "--tp", "must divide 32").what(), "--tp: must divide 32");
    EXPECT_STREQ(InputError("a.csv", "", "empty file").what(), "a.csv: empty file");
    try {
        load_calibration("/nonexistent/calibration.yaml");
        FAIL() << "no error";
    } catch (const InputError& x) {
        EXPECT_EQ(x.file(), "/nonexistent/calibration.yaml");
        EXPECT_EQ(x.reason(), "cannot open file");
    }
    EXPECT_THROW(load_gpu("no-such-gpu"), InputError);
}
