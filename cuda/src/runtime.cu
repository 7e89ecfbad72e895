// Device discovery, memory and streams over the statically linked CUDA runtime. Safe on machines without a driver:
// the runtime returns cudaErrorInsufficientDriver (35) or cudaErrorNoDevice (100), which we pass up.
#include <cuda_runtime.h>
#include <cstring>
#include "cola_cuda.h"

extern "C" {
int cola_cuda_is_stub(void) { return 0; }
int cola_cuda_runtime_version(int* version) { return (int)cudaRuntimeGetVersion(version); }
int cola_cuda_device_count(int* count) {
    *count = 0;
    cudaError_t e = cudaGetDeviceCount(count);
    if (e != cudaSuccess) { *count = 0; cudaGetLastError(); }
    return (int)e;
}
int cola_cuda_device_name(int device, char* buf, int len) {
    cudaDeviceProp prop;
    cudaError_t e = cudaGetDeviceProperties(&prop, device);
    if (e != cudaSuccess) { if (len > 0) buf[0] = 0; return (int)e; }
    std::strncpy(buf, prop.name, (size_t)len);
    if (len > 0) buf[len - 1] = 0;
    return 0;
}
const char* cola_cuda_error_string(int code) {
    switch (code) {
        case COLA_CUDA_ERR_ARG: return "cola: invalid argument";
        case COLA_CUDA_ERR_NONFINITE: return "cola: non-finite or overflowing merge delta (W untouched)";
        default: return cudaGetErrorString((cudaError_t)code);
    }
}
int cola_cuda_get_last_error(void) { return (int)cudaGetLastError(); }
int cola_cuda_set_device(int device) { return (int)cudaSetDevice(device); }
int cola_cuda_device_synchronize(void) { return (int)cudaDeviceSynchronize(); }

int cola_cuda_malloc(void** ptr, size_t bytes) { return (int)cudaMalloc(ptr, bytes ? bytes : 16); }
int cola_cuda_free(void* ptr) { return (int)cudaFree(ptr); }
int cola_cuda_host_alloc(void** ptr, size_t bytes) { return (int)cudaMallocHost(ptr, bytes ? bytes : 16); }
int cola_cuda_host_free(void* ptr) { return (int)cudaFreeHost(ptr); }
int cola_cuda_memcpy_h2d(void* dst, const void* src, size_t bytes, void* stream) {
    return (int)cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, (cudaStream_t)stream);
}
int cola_cuda_memcpy_d2h(void* dst, const void* src, size_t bytes, void* stream) {
    return (int)cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, (cudaStream_t)stream);
}
int cola_cuda_memcpy_d2d(void* dst, const void* src, size_t bytes, void* stream) {
    return (int)cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, (cudaStream_t)stream);
}
int cola_cuda_memset(void* ptr, int value, size_t bytes, void* stream) {
    return (int)cudaMemsetAsync(ptr, value, bytes, (cudaStream_t)stream);
}
int cola_cuda_stream_create(void** stream) {
    cudaStream_t s = nullptr;
    cudaError_t e = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    *stream = (void*)s;
    return (int)e;
}
int cola_cuda_stream_destroy(void* stream) { return (int)cudaStreamDestroy((cudaStream_t)stream); }
int cola_cuda_stream_synchronize(void* stream) { return (int)cudaStreamSynchronize((cudaStream_t)stream); }
}
