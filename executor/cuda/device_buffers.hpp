// Device memory of the GPU model: one allocation freed with its owner, and a metadata array with pinned
// host staging and a device copy of fixed capacity (fixed, so that a captured graph reads new values).
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <utility>

#include "check.cuh"

namespace headroom::cuda {

// One device allocation, freed with its owner.
struct DeviceArray {
    void* ptr = nullptr;
    size_t bytes = 0;
    DeviceArray() = default;
    explicit DeviceArray(size_t n) : bytes(n) {
        if (n) HR_CUDA_CHECK(cudaMalloc(&ptr, n));
    }
    DeviceArray(DeviceArray&& o) noexcept : ptr(o.ptr), bytes(o.bytes) { o.ptr = nullptr; }
    DeviceArray& operator=(DeviceArray&& o) noexcept {
        std::swap(ptr, o.ptr);
        std::swap(bytes, o.bytes);
        return *this;
    }
    ~DeviceArray() {
        if (ptr) cudaFree(ptr);
    }
    template <typename T>
    T* as() const { return static_cast<T*>(ptr); }
};

// A metadata array: pinned host staging and its device copy, both of a fixed capacity.
template <typename T>
struct Staged {
    T* host = nullptr;
    DeviceArray dev;
    size_t capacity = 0;
    explicit Staged(size_t n = 0) : capacity(std::max<size_t>(n, 1)) {
        HR_CUDA_CHECK(cudaMallocHost(&host, capacity * sizeof(T)));
        dev = DeviceArray(capacity * sizeof(T));
    }
    Staged(Staged&& o) noexcept : host(o.host), dev(std::move(o.dev)), capacity(o.capacity) { o.host = nullptr; }
    Staged& operator=(Staged&& o) noexcept {
        std::swap(host, o.host);
        dev = std::move(o.dev);
        capacity = o.capacity;
        return *this;
    }
    ~Staged() {
        if (host) cudaFreeHost(host);
    }
    T* d() const { return dev.as<T>(); }
    void upload(size_t n, cudaStream_t s) const {
        if (n > capacity) throw std::logic_error("staged array overflow");
        if (n) HR_CUDA_CHECK(cudaMemcpyAsync(dev.ptr, host, n * sizeof(T), cudaMemcpyHostToDevice, s));
    }
};

}  // namespace headroom::cuda
